"""The docstring examples of stablespike.data run and are correct."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import stablespike.data

MODULES = sorted(
    m.name for m in pkgutil.iter_modules(stablespike.data.__path__, "stablespike.data.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
