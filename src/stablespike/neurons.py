"""``TrLIF``: a LIF neuron with learnable ``tau`` and ``Vthr``, TrSG and MP-Init (docs/METHOD.md §1-3).

The module is a thin layer over :mod:`stablespike.functional`; the recurrence itself runs in the
backend chosen by name (:mod:`stablespike.kernels`). A multi-step call is stateless: each call
starts from ``U[0] = mp_mean`` (MP-Init) or 0, so nothing needs resetting between batches.

Example:
    >>> import torch
    >>> from stablespike import TrLIF
    >>> lif = TrLIF()
    >>> x = torch.randn(4, 8, 16)                 # [T, B, features]
    >>> out = lif(x)                              # Vthr * S, same shape
    >>> out.shape
    torch.Size([4, 8, 16])
    >>> bool(lif.mp_mean != 0)                    # updated once, in training mode
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

from .functional.lif import LIFSequence, check_reset, lif_sequence, lif_step
from .functional.params import tau_from_raw, tau_to_raw, threshold_from_raw, threshold_to_raw
from .functional.surrogate import check_surrogate, scales_output
from .kernels import check_backend_name, get_backend
from .mp_init import MPInitMixin, channel_view

Monitor = Callable[["TrLIF", torch.Tensor, LIFSequence], None]

_CONFIG_KEYS = ("surrogate", "reset", "decay_input", "detach_reset", "per_channel", "channels")


class TrLIFState(NamedTuple):
    """Explicit state of the single-step API: potential ``v`` and the fired-so-far mask."""

    v: torch.Tensor
    fired: torch.Tensor


class TrLIF(MPInitMixin, nn.Module):
    """LIF neuron with learnable time constant and threshold, TrSG and MP-Init.

    Args:
        init_tau: initial ``tau > 1`` (``tau = 1 / sigmoid(tau_raw)``).
        init_threshold: initial ``Vthr > 0`` (``Vthr = softplus(threshold_raw)``).
        surrogate: ``"trsg"`` (output ``Vthr * S``), ``"as"`` or ``"rs"`` (output ``S``).
        mp_init: start from the running mean ``mp_mean`` instead of 0.
        mp_momentum: weight of the new batch statistic in ``mp_mean``'s update.
        decay_input: ``H = U + (X - U) / tau`` (True) or ``H = U (1 - 1/tau) + X`` (False).
        reset: ``"soft"`` (subtract ``Vthr``) or ``"hard"`` (to 0).
        detach_reset: no gradient through the spike in the reset term.
        per_channel: one ``tau``, ``Vthr`` and ``mp_mean`` per channel (dim 2 of ``[T, B, C, ...]``);
            needs ``channels``.
        channels: channel count for ``per_channel=True``.
        learn_tau, learn_threshold: make the parameter trainable (``requires_grad``).
        backend: implementation of the recurrence: ``"auto"`` or a name from
            :func:`stablespike.kernels.available_backends`.
        binary_output: emit ``S`` in {0, 1} instead of ``Vthr * S`` (for inference with the
            threshold folded into the next layer; see :func:`stablespike.fold_thresholds`).
    """

    def __init__(
        self,
        init_tau: float = 2.0,
        init_threshold: float = 1.0,
        surrogate: str = "trsg",
        mp_init: bool = True,
        mp_momentum: float = 0.1,
        decay_input: bool = True,
        reset: str = "soft",
        detach_reset: bool = False,
        per_channel: bool = False,
        channels: int | None = None,
        learn_tau: bool = True,
        learn_threshold: bool = True,
        backend: str = "auto",
        binary_output: bool = False,
    ) -> None:
        super().__init__()
        self.surrogate = check_surrogate(surrogate)
        self.reset = check_reset(reset)
        if per_channel and (channels is None or int(channels) < 1):
            raise ValueError("per_channel=True needs channels=<number of channels (dim 2)>")
        if not per_channel and channels is not None:
            raise ValueError("channels is only used with per_channel=True")
        check_backend_name(backend)  # validates the name early
        self.decay_input = bool(decay_input)
        self.detach_reset = bool(detach_reset)
        self.per_channel = bool(per_channel)
        self.channels = int(channels) if channels is not None else None
        self.backend = backend
        self.binary_output = bool(binary_output)
        shape = (self.channels,) if self.channels is not None else ()  # per_channel
        self.tau_raw = nn.Parameter(
            tau_to_raw(init_tau).expand(shape).clone(), requires_grad=learn_tau
        )
        self.threshold_raw = nn.Parameter(
            threshold_to_raw(init_threshold).expand(shape).clone(), requires_grad=learn_threshold
        )
        self.init_mp(enabled=mp_init, momentum=mp_momentum, channels=self.channels)
        self._monitors: list[Monitor] = []

    # ---------------------------------------------------------------- values
    @property
    def tau(self) -> torch.Tensor:
        """``tau = 1 / sigmoid(tau_raw)`` (scalar, or ``[C]`` per channel)."""
        return tau_from_raw(self.tau_raw)

    @property
    def threshold(self) -> torch.Tensor:
        """``Vthr = softplus(threshold_raw)`` (scalar, or ``[C]`` per channel)."""
        return threshold_from_raw(self.threshold_raw)

    def config(self) -> dict[str, Any]:
        """The structural configuration stored with the state dict and checked on load."""
        return {k: getattr(self, k) for k in _CONFIG_KEYS}

    # ---------------------------------------------------------------- checks
    def _check_input(self, x: torch.Tensor, step: bool) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"TrLIF expects a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"TrLIF expects a floating-point tensor, got dtype {x.dtype}")
        min_dim, what = (1, "[B, ...]") if step else (2, "time-major [T, B, ...]")
        if x.dim() < min_dim:
            raise ValueError(f"TrLIF expects a {what} tensor, got shape {tuple(x.shape)}")
        if not step and x.shape[0] == 0:
            raise ValueError(f"TrLIF got T = 0 timesteps (shape {tuple(x.shape)})")
        if self.per_channel:
            cdim = 1 if step else 2
            if x.dim() <= cdim or x.shape[cdim] != self.channels:
                got = x.shape[cdim] if x.dim() > cdim else "none"
                raise ValueError(
                    f"per-channel TrLIF built for {self.channels} channels got {got} channels "
                    f"in dim {cdim} of shape {tuple(x.shape)} (expected {what})"
                )
        if self.binary_output and self.training:
            raise RuntimeError("binary_output=True is for inference; call .eval() first")

    def _params_for(self, step_ndim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        tau = channel_view(self.tau, step_ndim).to(dtype)
        vth = channel_view(self.threshold, step_ndim).to(dtype)
        return tau, vth

    def _finish_output(self, out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if self.binary_output and scales_output(self.surrogate):
            out = (out != 0).to(out.dtype)
        return out.to(like.dtype)

    # ---------------------------------------------------------------- multi-step
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the whole sequence ``x: [T, B, ...]``; returns outputs of the same shape."""
        self._check_input(x, step=False)
        cdt = torch.promote_types(x.dtype, torch.float32)
        xc = x.to(cdt)
        tau, vth = self._params_for(x.dim() - 1, cdt)
        v0 = self.mp_initial(xc[0]) if self.mp_enabled else None
        kwargs: dict[str, Any] = dict(
            surrogate=self.surrogate,
            decay_input=self.decay_input,
            reset=self.reset,
            detach_reset=self.detach_reset,
            statistic_shape=self.mp_statistic_shape(x.dim() - 1) if self.mp_observes() else None,
        )
        if self._monitors:
            res = lif_sequence(xc, tau, vth, v0, return_h=True, **kwargs)
            for monitor in self._monitors:
                monitor(self, x, res)
        else:
            res = get_backend(self.backend, x.device.type)(xc, tau, vth, v0, **kwargs)
        self.mp_observe(res.v_last, res.fired, res.mp_stat)
        return self._finish_output(res.output, x)

    # ---------------------------------------------------------------- single-step
    def initial_state(self, x_t: torch.Tensor) -> TrLIFState:
        """State before the first step for inputs shaped like ``x_t`` (``U[0]`` from MP-Init)."""
        self._check_input(x_t, step=True)
        cdt = torch.promote_types(x_t.dtype, torch.float32)
        like = x_t.to(cdt)
        return TrLIFState(self.mp_initial(like), torch.zeros_like(like, dtype=torch.bool))

    def step(
        self, x_t: torch.Tensor, state: TrLIFState | None = None
    ) -> tuple[torch.Tensor, TrLIFState]:
        """One timestep with explicit state: ``out, state = lif.step(x_t, state)``.

        Start with ``state=None`` (or :meth:`initial_state`); after the last step call
        :meth:`finish` so that MP-Init learns from the sequence exactly as a multi-step call does.
        """
        if state is None:
            state = self.initial_state(x_t)
        else:
            self._check_input(x_t, step=True)
        cdt = state.v.dtype
        tau, vth = self._params_for(x_t.dim(), cdt)
        res = lif_step(
            x_t.to(cdt),
            state.v,
            tau,
            vth,
            surrogate=self.surrogate,
            decay_input=self.decay_input,
            reset=self.reset,
            detach_reset=self.detach_reset,
        )
        new_state = TrLIFState(res.v, state.fired | res.spike.bool())
        return self._finish_output(res.output, x_t), new_state

    def finish(self, state: TrLIFState) -> None:
        """End a streamed sequence: the MP-Init update from ``U[T]`` (training mode only)."""
        self.mp_observe(state.v, state.fired)

    # ---------------------------------------------------------------- monitors
    def add_monitor(self, monitor: Monitor) -> Callable[[], None]:
        """Call ``monitor(neuron, x, result)`` after every multi-step forward; returns a remover.

        ``result`` is the reference :class:`~stablespike.functional.LIFSequence` with the
        pre-spike potentials ``h`` (``[T, ...]``: a stacked copy of the per-step values, so it
        carries no gradient from the loss; for ``dL/dH`` hook the autograd nodes of the steps, as
        :class:`stablespike.analysis.NeuronMonitor` does). While a monitor is
        attached the readable reference implementation runs (same numbers, slower).
        """
        self._monitors.append(monitor)
        return lambda: self._monitors.remove(monitor) if monitor in self._monitors else None

    # ---------------------------------------------------------------- state dict
    def get_extra_state(self) -> dict[str, Any]:
        return self.config()

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError(
                f"TrLIF extra state must be a dict of its configuration, got {state!r}"
            )
        mine = self.config()
        diff = [
            f"{k}: checkpoint {state.get(k)!r} vs this layer {mine[k]!r}"
            for k in _CONFIG_KEYS
            if state.get(k) != mine[k]
        ]
        if diff:
            raise ValueError(
                "state_dict comes from a TrLIF with a different configuration: " + "; ".join(diff)
            )

    def extra_repr(self) -> str:
        parts = [f"surrogate={self.surrogate!r}", f"reset={self.reset!r}"]
        parts.append(f"mp_init={self.mp_enabled}")
        if not self.decay_input:
            parts.append("decay_input=False")
        if self.detach_reset:
            parts.append("detach_reset=True")
        if self.per_channel:
            parts.append(f"per_channel=True, channels={self.channels}")
        if self.binary_output:
            parts.append("binary_output=True")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)
