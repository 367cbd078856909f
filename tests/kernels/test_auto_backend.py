"""``backend="auto"`` picks the fused kernel where it runs and says why when it cannot."""

from __future__ import annotations

import logging

import pytest

from stablespike import kernels


def test_auto_without_fused_kernel_says_so(caplog: pytest.LogCaptureFixture) -> None:
    kernels._fused_runs_on.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="stablespike.kernels"):
            assert kernels.resolve_backend("auto", "mps") == "reference"
        assert "uses the per-step reference" in caplog.text and "mps" in caplog.text
    finally:
        kernels._fused_runs_on.cache_clear()


def test_explicit_backend_names_resolve_to_themselves() -> None:
    assert kernels.resolve_backend("reference", "cpu") == "reference"
    assert kernels.resolve_backend("fused", "cuda") == "fused"
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        kernels.resolve_backend("nope", "cpu")
