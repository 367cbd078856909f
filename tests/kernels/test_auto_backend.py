"""``backend="auto"`` picks the fused kernel where it runs and says why when it cannot."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch

from stablespike import TrLIF, kernels
from stablespike.kernels import cpu


@pytest.fixture
def fresh_checks() -> Iterator[None]:
    """The self-check and auto's choice run anew in the test, and again after it."""
    kernels.self_check.cache_clear()
    kernels._fused_runs_on.cache_clear()
    yield
    kernels.self_check.cache_clear()
    kernels._fused_runs_on.cache_clear()


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
    assert kernels.resolve_backend("fused", "cpu") == "fused"
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        kernels.resolve_backend("nope", "cpu")
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        TrLIF(backend="nope")


def test_the_self_check_passes_on_this_cpu(fresh_checks: None) -> None:
    with torch.no_grad(), torch.inference_mode():  # the caller's mode does not matter
        assert kernels.self_check("cpu") is None


def _wrong_forward(*args: object, **kwargs: object) -> tuple[torch.Tensor, ...]:
    out, v_last, fired, stat = _REAL_FORWARD(*args, **kwargs)
    return out * 1.01, v_last, fired, stat


def _crashing_forward(*args: object, **kwargs: object) -> tuple[torch.Tensor, ...]:
    raise RuntimeError("simulated: the kernel could not be compiled")


_REAL_FORWARD = cpu.forward


@pytest.mark.parametrize(
    ("kernel", "reason"),
    [(_wrong_forward, "differ from the reference by up to"), (_crashing_forward, "simulated")],
    ids=["wrong", "crashing"],
)
def test_a_failing_kernel_makes_auto_fall_back_and_fused_raise(
    fresh_checks: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kernel: object,
    reason: str,
) -> None:
    monkeypatch.setattr(cpu, "forward", kernel)
    x = torch.randn(3, 2, 4)
    with caplog.at_level(logging.WARNING, logger="stablespike.kernels"):
        out = TrLIF(backend="auto")(x)
        TrLIF(backend="auto")(x)
    torch.testing.assert_close(out, TrLIF(backend="reference")(x))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings  # once per process
    assert "uses the per-step reference" in warnings[0] and reason in warnings[0]
    with pytest.raises(RuntimeError, match=f"backend 'fused' failed its check on cpu: .*{reason}"):
        TrLIF(backend="fused")(x)
