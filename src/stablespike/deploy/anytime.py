"""Anytime inference: run the timesteps one at a time and stop each sample when it is sure.

:func:`anytime` wraps a trained model into an :class:`AnytimeNet`. Its forward runs step
``t = 1, 2, ...`` with the explicit-state step API of :class:`~stablespike.TrLIF`
(``out, state = lif.step(x_t, state)``), reads the running mean of the per-step logits
``z(t) = 1/t * sum_{s<=t} out_s`` and lets the exit policy (:mod:`stablespike.deploy.policy`)
decide, per sample, whether to stop. Stopped samples are removed from the batch, so they cost no
further work; at ``t = T`` every sample stops. With :func:`~stablespike.deploy.policy.never`
the per-step outputs are those of the full multi-step model.

Why this is exact: in eval mode every stablespike layer other than the neurons and the input
stem acts on each timestep on its own (time is folded into the batch, BatchNorm uses its running
statistics), so running the network on ``[1, B, ...]`` slices with the neurons' state carried
over computes the same ``out_t`` as the multi-step call. A static image goes through the
non-spiking stem once (as in the multi-step call, which repeats its output ``T`` times).

With ``count_ops=True`` the result also holds, per sample, the synaptic operations it used:
accumulates ``ac`` and multiply-accumulates ``mac`` counted as
:class:`~stablespike.analysis.SynOpsCounter` counts them (45 nm energy in
:mod:`stablespike.analysis.synops`).

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> from stablespike.deploy import anytime
    >>> torch.manual_seed(0)
    <torch._C.Generator object at ...>
    >>> model = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4).eval()
    >>> net = anytime(model, "confidence:0.5")
    >>> res = net(torch.randn(3, 1, 28, 28))
    >>> res.logits.shape, res.steps.shape                 # running mean at exit, steps used
    (torch.Size([3, 10]), torch.Size([3]))
    >>> full = anytime(model, "never")(torch.randn(3, 1, 28, 28))
    >>> full.steps.tolist()
    [4, 4, 4]
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import torch
from torch import nn

from ..analysis.synops import _CONV, dense_macs, sample_accumulates
from ..models.layers import SeqConvBN
from ..models.spike_path import SpikeTracker, is_spike_tensor, spike_values
from ..models.stem import InputStem
from ..neurons import TrLIF, TrLIFState
from .policy import ExitPolicy, as_policy, update_streak

__all__ = ["AnytimeNet", "AnytimeOutput", "anytime", "sample_accumulates"]


class AnytimeOutput(NamedTuple):
    """Result of :class:`AnytimeNet`: per sample, what it read out and what it cost.

    * ``logits`` ``[B, K]``: the running mean ``z(t)`` at the sample's exit step;
    * ``steps`` ``[B]``: timesteps used (1..T);
    * ``outputs`` ``[T, B, K]``: per-step logits, NaN after the sample's exit;
    * ``ac``, ``mac`` ``[T, B]`` (float64): synaptic operations per step, 0 after the exit,
      with ``count_ops=True`` (``ac.sum(0)``: what each sample used).
    """

    logits: torch.Tensor
    steps: torch.Tensor
    outputs: torch.Tensor
    ac: torch.Tensor | None = None
    mac: torch.Tensor | None = None


class _LIFStepper:
    """Replaces a TrLIF's forward in the stepping copy: one step on ``[1, B, ...]``, state kept."""

    def __init__(self, lif: TrLIF) -> None:
        self.lif = lif
        self.state: TrLIFState | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            raise RuntimeError(
                f"anytime stepping fed {x.shape[0]} timesteps at once to a TrLIF; the model mixes "
                "timesteps outside its neurons and cannot run step by step"
            )
        out, self.state = TrLIF.step(self.lif, x[0], self.state)
        return out.unsqueeze(0)

    def keep(self, index: torch.Tensor) -> None:
        if self.state is not None:
            self.state = TrLIFState(self.state.v[index], self.state.fired[index])


class _StemStepper:
    """Replaces an InputStem's forward: a static image goes through conv + BN once per batch."""

    def __init__(self, stem: InputStem) -> None:
        self.stem = stem
        self.cache: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.stem._check_input(x)
        if x.dim() == 5:  # an event sequence: one frame per step
            return SeqConvBN.forward(self.stem, x)
        if self.cache is None:
            self.cache = self.stem.frames(x)
        return self.cache.unsqueeze(0)

    def keep(self, index: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache = self.cache[index]


class _SampleOps:
    """Per-sample AC / MAC of the stepping copy's Linear / Conv calls (rows = active samples)."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.tracker = SpikeTracker(net)
        self.values = spike_values(net)
        self.modules = [m for m in net.modules() if isinstance(m, (nn.Linear, *_CONV))]
        self.handles: list[Any] = []
        self.ac = self.mac = torch.zeros(0, dtype=torch.float64)
        self.rows: torch.Tensor | None = None  # active sample ids
        self.t = 0

    def attach(self, steps: int, batch: int, device: torch.device) -> None:
        self.tracker.attach()
        self.handles = [m.register_forward_hook(self._count) for m in self.modules]
        self.ac = torch.zeros(steps, batch, dtype=torch.float64, device=device)
        self.mac = torch.zeros(steps, batch, dtype=torch.float64, device=device)

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
        self.tracker.detach()
        self.tracker.clear()

    def _count(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], out: Any) -> None:
        x = inputs[0]
        rows = self.rows
        assert rows is not None
        spiking = self.tracker.is_spike_derived(x) or is_spike_tensor(x, self.values)
        # one row per running sample: time folded into dim 0 ([1 * B, ...]) or leading ([1, B, ...])
        if x.shape[0] != rows.numel():
            if x.dim() < 3 or x.shape[0] != 1 or x.shape[1] != rows.numel():
                raise RuntimeError(
                    f"cannot attribute the operations of a {type(module).__name__} call on shape "
                    f"{tuple(x.shape)} to {rows.numel()} samples"
                )
            x, out = x[0], out[0]
        if spiking:
            self.ac[self.t, rows] += sample_accumulates(module, x)
        else:
            self.mac[self.t, rows] += dense_macs(module, x[:1], out[:1])


class AnytimeNet(nn.Module):
    """A model that runs its timesteps one at a time and stops each sample by ``policy``.

    Built by :func:`anytime`; holds its own eval-mode copy of the model (``net``), so the model
    passed in is not changed. ``forward(x)`` takes what the model takes (static images
    ``[B, C, H, W]`` or an event sequence ``[T, B, C, H, W]``) and returns an
    :class:`AnytimeOutput`.
    """

    def __init__(
        self,
        model: nn.Module,
        policy: ExitPolicy | str | dict[str, Any],
        *,
        count_ops: bool = False,
    ) -> None:
        super().__init__()
        lifs = [m for m in model.modules() if isinstance(m, TrLIF)]
        if not lifs:
            raise ValueError(f"{type(model).__name__} has no TrLIF neuron to run step by step")
        self.policy = as_policy(policy)
        self.count_ops = bool(count_ops)
        self.net = copy.deepcopy(model).eval()
        self._lifs = [_LIFStepper(m) for m in self.net.modules() if isinstance(m, TrLIF)]
        self._stems = [_StemStepper(m) for m in self.net.modules() if isinstance(m, InputStem)]
        for stepper in self._lifs:
            stepper.lif.forward = stepper  # type: ignore[method-assign]
        for stem_stepper in self._stems:
            stem_stepper.stem.forward = stem_stepper  # type: ignore[method-assign]
        self.eval()

    def train(self, mode: bool = True) -> AnytimeNet:
        """Anytime inference is eval-only: the copy always stays in eval mode."""
        super().train(mode)
        self.net.eval()
        return self

    def timesteps_for(self, x: torch.Tensor) -> int:
        """``T`` for input ``x``: the stem's ``timesteps`` for static images, else ``x.shape[0]``."""
        if x.dim() == 5 or not self._stems:
            return int(x.shape[0])
        steps = {s.stem.timesteps for s in self._stems}
        if len(steps) != 1:
            raise ValueError(f"the model's input stems disagree on timesteps: {sorted(steps)}")
        return steps.pop()

    def _keep(self, index: torch.Tensor) -> None:
        steppers: list[_LIFStepper | _StemStepper] = [*self._lifs, *self._stems]
        for stepper in steppers:
            stepper.keep(index)

    def _reset(self) -> None:
        for stepper in self._lifs:
            stepper.state = None
        for stem_stepper in self._stems:
            stem_stepper.cache = None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> AnytimeOutput:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("anytime input must be a floating-point tensor")
        sequence = x.dim() == 5
        total = self.timesteps_for(x)
        batch = int(x.shape[1] if sequence else x.shape[0])
        device = x.device
        ops = _SampleOps(self.net) if self.count_ops else None
        if ops is not None:
            ops.attach(total, batch, device)
        self._reset()
        try:
            return self._run(x, sequence, total, batch, ops)
        finally:
            self._reset()
            if ops is not None:
                ops.detach()

    def _run(
        self, x: torch.Tensor, sequence: bool, total: int, batch: int, ops: _SampleOps | None
    ) -> AnytimeOutput:
        device = x.device
        rows = torch.arange(batch, device=device)  # sample ids still running
        steps = torch.full((batch,), total, dtype=torch.long, device=device)
        logits: torch.Tensor | None = None
        outputs: torch.Tensor | None = None
        running: torch.Tensor | None = None
        streak: torch.Tensor | None = None
        previous: torch.Tensor | None = None
        active = x
        for t in range(total):
            if ops is not None:
                ops.rows, ops.t = rows, t
            step_in = active[t : t + 1] if sequence else active
            out = self.net(step_in)
            if not isinstance(out, torch.Tensor) or out.dim() != 3 or out.shape[0] != 1:
                raise RuntimeError(
                    f"{type(self.net).__name__} returned {getattr(out, 'shape', type(out))} for "
                    "one timestep; anytime needs per-step logits [T, B, K]"
                )
            out = out[0]
            if outputs is None:
                outputs = torch.full((total, batch, out.shape[-1]), float("nan"), dtype=out.dtype)
                outputs = outputs.to(device)
                logits = torch.empty(batch, out.shape[-1], dtype=out.dtype, device=device)
            outputs[t, rows] = out
            running = out if running is None else running + out
            mean = running / (t + 1)
            top1 = mean.argmax(-1)
            streak = update_streak(streak, top1, previous)
            stop = self.policy.fires(mean, streak) | (t + 1 == total)
            assert logits is not None
            logits[rows[stop]] = mean[stop]
            steps[rows[stop]] = t + 1
            if bool(stop.all()):
                break
            if bool(stop.any()):
                keep = (~stop).nonzero().flatten()
                rows, running, previous, streak = (
                    rows[keep],
                    running[keep],
                    top1[keep],
                    streak[keep],
                )
                active = active[:, keep] if sequence else active[keep]
                self._keep(keep)
            else:
                previous = top1
        assert logits is not None and outputs is not None
        if ops is None:
            return AnytimeOutput(logits, steps, outputs)
        return AnytimeOutput(logits, steps, outputs, ops.ac, ops.mac)

    def extra_repr(self) -> str:
        return f"policy={str(self.policy)!r}"


def anytime(
    model: nn.Module, policy: ExitPolicy | str | dict[str, Any], *, count_ops: bool = False
) -> AnytimeNet:
    """An :class:`AnytimeNet` running ``model`` step by step, each sample stopped by ``policy``.

    Args:
        model: a stablespike model (or any network of TrLIF neurons whose other layers act on
            each timestep independently), trained or folded (:func:`fold_thresholds`).
        policy: an :class:`~stablespike.deploy.policy.ExitPolicy`, ``"confidence:0.9"``,
            ``"margin:0.5"``, ``"stable:2"``, ``"never"``, or a policy's dict form.
        count_ops: also count each sample's synaptic operations (``ac`` / ``mac``).
    """
    return AnytimeNet(model, policy, count_ops=count_ops)
