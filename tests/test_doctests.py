"""Every docstring example in the package runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import stablespike

# modules that need an optional package to import at all
OPTIONAL = {"stablespike.kernels.triton_lif": "triton", "stablespike.deploy.nir_export": "nir"}

MODULES = sorted(m.name for m in pkgutil.walk_packages(stablespike.__path__, "stablespike.")) + [
    "stablespike"
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    needs = OPTIONAL.get(name)
    if needs and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{name} needs {needs}")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
