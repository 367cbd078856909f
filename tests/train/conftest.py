"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import make_tiny_npz


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 128/64-sample 4-class 8x8 ``npz:`` dataset, shared by all tests."""
    return make_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")
