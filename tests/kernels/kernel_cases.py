"""Random LIF cases (a hypothesis strategy) and the parity check of a backend against the reference.

Shared by the CPU and CUDA parity tests: the reference per-step ``lif_sequence`` and the backend
under test run the same case; outputs, ``U[T]`` and the fired mask must agree exactly, and the
gradients for ``x``, ``tau``, ``threshold`` and ``v0`` within ``1e-5`` (relative to the largest
reference gradient of that tensor, at least 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from stablespike.functional import lif_sequence

V0_KINDS = ("none", "buffer", "channel", "full")


@dataclass(frozen=True)
class Case:
    """One configuration of the recurrence and the seed of its random tensors."""

    T: int
    step: tuple[int, ...]
    per_channel: bool
    dtype: torch.dtype
    surrogate: str
    decay_input: bool
    reset: str
    detach_reset: bool
    v0: str
    threshold: float
    tau: float
    on_grid: bool
    seed: int


@st.composite
def cases(
    draw: st.DrawFn, dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)
) -> Case:
    """Random shapes (1-3 step dims), T = 1..16, thresholds 0.05..4, every option."""
    ndim = draw(st.integers(1, 3))
    # the last dim sometimes spans whole vector blocks of the CPU kernel (32 floats, 16 doubles)
    last = draw(st.one_of(st.integers(1, 7), st.integers(28, 70)))
    step = tuple(draw(st.integers(1, 7)) for _ in range(ndim - 1)) + (last,)
    per_channel = ndim >= 2 and draw(st.booleans())
    v0_kinds = V0_KINDS if ndim >= 2 else ("none", "buffer", "full")
    on_grid = draw(st.booleans())
    return Case(
        T=draw(st.integers(1, 16)),
        step=step,
        per_channel=per_channel,
        dtype=draw(st.sampled_from(dtypes)),
        surrogate=draw(st.sampled_from(("trsg", "as", "rs"))),
        decay_input=draw(st.booleans()),
        reset=draw(st.sampled_from(("soft", "hard"))),
        detach_reset=draw(st.booleans()),
        v0=draw(st.sampled_from(v0_kinds)),
        threshold=draw(st.sampled_from((0.5, 1.0, 2.0))) if on_grid else draw(st.floats(0.05, 4.0)),
        tau=draw(st.sampled_from((2.0, 4.0))) if on_grid else draw(st.floats(1.05, 8.0)),
        on_grid=on_grid,
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@dataclass
class Inputs:
    """Leaf tensors of a case; ``v0_of`` builds ``v0`` from its leaf (as TrLIF does)."""

    x: torch.Tensor
    tau: torch.Tensor
    threshold: torch.Tensor
    v0_leaf: torch.Tensor | None
    v0_of: Callable[[], torch.Tensor | None]

    def leaves(self) -> list[torch.Tensor]:
        out = [self.x, self.tau, self.threshold]
        if self.v0_leaf is not None and self.v0_leaf.requires_grad:
            out.append(self.v0_leaf)
        return out


def make_inputs(case: Case, device: str = "cpu", x_dtype: torch.dtype | None = None) -> Inputs:
    """Tensors of a case on ``device``; ``x`` in ``x_dtype`` (default: the case's dtype)."""
    gen = torch.Generator().manual_seed(case.seed)
    dt = case.dtype
    shape = (case.T, *case.step)
    chan = (case.step[1],) + (1,) * (len(case.step) - 2) if len(case.step) >= 2 else ()
    pshape = chan if case.per_channel else ()
    spread = torch.rand(pshape, generator=gen, dtype=dt) + 0.5 if case.per_channel else 1.0
    vth = case.threshold * spread
    tau = 1.0 + (case.tau - 1.0) * (torch.rand(pshape, generator=gen, dtype=dt) + 0.5)
    scale = float(case.threshold)
    x = torch.randn(shape, generator=gen, dtype=dt) * 1.5 * scale + 0.6 * scale
    if case.on_grid:
        x = torch.round(x * 4) / 4
        tau = torch.full(pshape, case.tau, dtype=dt)
    v0_leaf: torch.Tensor | None = None
    if case.v0 == "buffer":
        v0_leaf = torch.randn((), generator=gen, dtype=dt) * scale
    elif case.v0 == "channel":
        v0_leaf = torch.randn(chan, generator=gen, dtype=dt) * scale
    elif case.v0 == "full":
        v0_leaf = torch.randn(case.step, generator=gen, dtype=dt) * scale
    x_t = x.to(device=device, dtype=x_dtype or dt).requires_grad_()
    tau_t = torch.as_tensor(tau, dtype=dt).to(device).requires_grad_()
    vth_t = torch.as_tensor(vth, dtype=dt).to(device).requires_grad_()
    if v0_leaf is not None:
        v0_leaf = v0_leaf.to(device).requires_grad_(case.v0 != "buffer")
    step = case.step

    def v0_of() -> torch.Tensor | None:
        return None if v0_leaf is None else v0_leaf.expand(step)

    return Inputs(x_t, tau_t, vth_t, v0_leaf, v0_of)


def statistic_shape(case: Case) -> tuple[int, ...]:
    """MP-Init's statistic shape as TrLIF asks for it: per channel or per layer."""
    if case.per_channel:
        return (case.step[1],) + (1,) * (len(case.step) - 2)
    return ()


def run(backend: Callable, case: Case, inputs: Inputs, grad_dtype: torch.dtype | None = None):
    """Outputs and gradients of ``backend`` on a case, with a fixed random upstream gradient.

    The upstream gradient is rounded to ``grad_dtype`` (default: the output's dtype). MP-Init's
    statistic is requested in the shape of :func:`statistic_shape`.
    """
    res = backend(
        inputs.x,
        inputs.tau,
        inputs.threshold,
        inputs.v0_of(),
        surrogate=case.surrogate,
        decay_input=case.decay_input,
        reset=case.reset,
        detach_reset=case.detach_reset,
        statistic_shape=statistic_shape(case),
    )
    gen = torch.Generator().manual_seed(case.seed + 1)
    g_out = torch.randn(res.output.shape, generator=gen, dtype=torch.float64)
    g_v = torch.randn(res.v_last.shape, generator=gen, dtype=torch.float64)
    dev, dt = res.output.device, res.output.dtype
    g_out, g_v = (g.to(grad_dtype or dt).to(dev, dt) for g in (g_out, g_v))
    loss = (res.output * g_out).sum() + (res.v_last * g_v).sum()
    grads = torch.autograd.grad(loss, inputs.leaves())
    return res, grads


def assert_grads_close(
    ref: tuple[torch.Tensor, ...],
    got: tuple[torch.Tensor, ...],
    tol: float,
    slack: tuple[float, ...] = (),
) -> None:
    """Each gradient within ``tol`` of the reference, relative to its largest entry (at least 1).

    ``slack`` adds an absolute allowance per gradient (see :func:`check_parity`).
    """
    if len(ref) != len(got):
        raise AssertionError(f"{len(got)} gradients, expected {len(ref)}")
    names = ("x", "tau", "threshold", "v0")
    for i, (name, r, g) in enumerate(zip(names, ref, got, strict=False)):
        r64, g64 = r.detach().double().cpu(), g.detach().double().cpu()
        scale = max(1.0, float(r64.abs().max())) if r64.numel() else 1.0
        err = float((r64 - g64).abs().max()) if r64.numel() else 0.0
        allowed = tol * scale + (slack[i] if i < len(slack) else 0.0)
        if not err <= allowed:
            raise AssertionError(f"grad {name}: max error {err:.3g} > {allowed:.3g}")


def summation_slack(case: Case, inputs64: Inputs) -> tuple[float, ...]:
    """Float32 rounding allowance of each gradient that sums over neurons and steps.

    The gradient of a broadcast constant (``tau``, threshold, a per-channel ``U[0]``) is a sum of
    per-neuron contributions; summing them in float32 in any order may err by about
    ``T * eps32 * sum |contribution|`` (``eps32 = 2^-24``), which exceeds ``1e-5`` where large
    contributions cancel. The contributions come from the float64 reference with one leaf per
    neuron.
    """

    def per_neuron(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None or not t.requires_grad:
            return t
        return t.detach().expand(case.step).clone().requires_grad_()

    v0 = per_neuron(inputs64.v0_leaf)
    spread = Inputs(
        inputs64.x, per_neuron(inputs64.tau), per_neuron(inputs64.threshold), v0,
        lambda: v0,
    )  # fmt: skip
    _, grads = run(lif_sequence, case, spread, grad_dtype=torch.float32)
    eps32 = 2.0**-24
    return (0.0, *(case.T * eps32 * float(g.abs().sum()) for g in grads[1:]))


def upcast(inputs: Inputs, step: tuple[int, ...]) -> Inputs:
    """The same leaf values in float64 (new leaves)."""

    def leaf(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().double().requires_grad_(t.requires_grad)

    v0 = leaf(inputs.v0_leaf)
    return Inputs(
        leaf(inputs.x), leaf(inputs.tau), leaf(inputs.threshold), v0,
        lambda: None if v0 is None else v0.expand(step),
    )  # fmt: skip


def check_parity(backend: Callable, case: Case, device: str = "cpu", tol: float = 1e-5) -> None:
    """The backend matches the reference on ``case``: exact forward, gradients within ``tol``.

    Float32 gradients of the constants are long sums over neurons and steps, whose rounding
    depends on the order of summation and can exceed ``tol`` where large terms cancel (for the
    reference as for the kernel). Where the float32 results differ by more than ``tol``, the
    kernel's gradients are judged against the reference evaluated in float64 on the same input
    values (when its spikes are the same), allowing the float32 summation error bound of
    :func:`summation_slack`.
    """
    inputs = make_inputs(case, device)
    ref, ref_grads = run(lif_sequence, case, inputs)
    got, got_grads = run(backend, case, inputs)
    torch.testing.assert_close(got.output, ref.output, rtol=0, atol=0)
    torch.testing.assert_close(got.v_last, ref.v_last, rtol=0, atol=0)
    assert torch.equal(got.fired, ref.fired)
    assert_statistics_equal(ref.mp_stat, got.mp_stat)
    try:
        assert_grads_close(ref_grads, got_grads, tol)
    except AssertionError:
        if case.dtype != torch.float32:
            raise
        inputs64 = upcast(inputs, case.step)
        exact, exact_grads = run(lif_sequence, case, inputs64, grad_dtype=torch.float32)
        if not torch.equal(exact.output != 0, ref.output != 0):
            raise
        assert_grads_close(exact_grads, got_grads, tol, summation_slack(case, inputs64))


def assert_statistics_equal(ref, got) -> None:
    """MP-Init statistics: same shape, counts exact, float64 totals up to summation order."""
    for name, r, g in zip(("total", "count", "nonfinite"), ref, got, strict=True):
        assert g.dtype == torch.float64, name
        torch.testing.assert_close(g.cpu(), r.cpu(), rtol=1e-12, atol=1e-12, msg=name)
