"""The docstring examples of stablespike.train run and are correct."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import stablespike.train

MODULES = sorted(
    m.name for m in pkgutil.iter_modules(stablespike.train.__path__, "stablespike.train.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
