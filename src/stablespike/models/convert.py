"""``convert``: put TrLIF (TrSG + MP-Init), or MP-Init alone, into a SpikingJelly, snnTorch or Norse model.

``convert(model, to="trlif")`` replaces every neuron it knows by a :class:`~stablespike.TrLIF`
whose initial ``tau``, ``Vthr``, reset kind, ``decay_input``, ``detach_reset`` and learnability
are the original's; ``convert(model, to="mp-init")`` keeps the original neuron and wraps it in
:class:`MPInitNeuron`, which starts each sequence from the MP-Init mean and learns it from the
last step (docs/METHOD.md §2.2). Mappings (``k = 1 / tau``, ``Vthr`` the threshold; TrLIF:
``H = U + k (X - U)`` with ``decay_input`` else ``H = (1 - k) U + X``):

* SpikingJelly 2.0 ``LIFNode(tau, decay_input, v_threshold, v_reset, detach_reset)``:
  ``tau -> tau``; ``v_reset=None -> reset="soft"``, ``v_reset=0.0 -> "hard"`` (another value is
  refused); ``tau`` and ``Vthr`` are fixed (``learn_tau=learn_threshold=False``).
* SpikingJelly ``ParametricLIFNode``: its ``w`` (``tau = 1 / sigmoid(w)``) is TrLIF's ``tau_raw``,
  copied as is, learnable as it was; otherwise as ``LIFNode``.
* SpikingJelly ``IFNode``: ``H = U + X``: ``decay_input=False`` with ``k = sigmoid(-60)``
  (``1 - k == 1`` in float32 and float64), ``tau`` fixed.
* snnTorch 1.0 ``Leaky(beta, threshold, reset_mechanism, reset_delay)``: ``mem = beta mem + x``,
  so ``decay_input=False`` and ``beta = 1 - 1/tau`` (``tau = 1 / (1 - beta)``; ``beta = 1`` is
  the IF case above); ``"subtract" -> "soft"``, ``"zero" -> "hard"``; ``learn_beta`` and
  ``learn_threshold`` carry over. snnTorch detaches the delayed reset signal, so
  ``reset_delay=True`` maps to ``detach_reset=True`` and ``reset_delay=False`` to ``False``.
  ``"zero"`` is exactly TrLIF's hard reset (both ``reset_delay`` values). ``"subtract"`` is *not*
  exactly a TrLIF: with ``reset_delay=True`` (snnTorch's default) snnTorch subtracts ``Vthr`` one
  step later and undecayed (``H[t+1] = beta H[t] + X - Vthr S[t]``, TrLIF
  ``beta (H[t] - Vthr S[t]) + X``); with ``reset_delay=False`` it subtracts ``Vthr`` once more
  before the next firing test while the potential after a reset is still above ``Vthr`` (the two
  agree while ``H < 2 Vthr``). ``exact=True`` refuses both, ``exact=False`` converts them to the
  nearest TrLIF (same constants, soft reset at the spike) with a warning.
* Norse 1.1 ``LIF`` / ``LIFCell`` (``p: LIFParameters``, ``dt``): ``k = dt * tau_mem_inv``,
  ``v_th -> Vthr``, ``reset="hard"``, ``decay_input=True``; needs ``v_leak = v_reset = 0``. Norse's
  input goes through a synaptic current that keeps ``1 - dt * tau_syn_inv`` of itself per step;
  only ``dt * tau_syn_inv = 1`` (no carry-over) is a TrLIF, so ``exact=True`` refuses other values
  and ``exact=False`` drops the carry-over. ``LIFBoxCell`` (no current) maps exactly, its
  ``reset_method`` (``reset_value`` / ``reset_subtract``) giving ``"hard"`` / ``"soft"``.

With ``mp_init=False`` and a surrogate whose output is the spike ``S`` (``"as"`` or ``"rs"``; with
``"trsg"`` the output is ``Vthr * S``, the same when ``Vthr = 1``) the converted model's forward
outputs equal the original's (up to float rounding; the firing test is ``H >= Vthr`` here,
``H > Vthr`` in snnTorch and Norse, which differ only where ``H`` equals ``Vthr`` exactly). The
surrogate gradient is TrLIF's rectangle, not the original's.

Step-mode models: a neuron that keeps its state across calls and is called once per timestep
(SpikingJelly ``step_mode="s"``, snnTorch, Norse cells) is converted to our stateless multi-step
call: the converted model takes the whole sequence ``[T, B, ...]`` at once. For that, every
``nn.Sequential`` holding such a neuron is made multi-step: SpikingJelly layers get
``step_mode="m"``, other layers are wrapped in :class:`~stablespike.models.layers.TimeFolded`
(time folded into the batch, so a BatchNorm in training mode sees ``T * B`` samples instead of
``B``), nested ``Sequential`` likewise. A step-mode neuron outside a ``Sequential`` (called from your
own per-step ``forward``) is refused with its name: make that ``forward`` take ``[T, B, ...]``.
snnTorch's ``output=True`` layers return their spikes only.

Unknown neurons of these packages raise :class:`ConversionError` naming them;
:func:`register_neuron` adds a mapping for any class.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> class MyIF(nn.Module):                     # a neuron of your own, multi-step
    ...     def forward(self, x):
    ...         v, out = torch.zeros_like(x[0]), []
    ...         for xt in x:
    ...             v = v + xt
    ...             out.append((v >= 1).float())
    ...             v = v - out[-1]
    ...         return torch.stack(out)
    >>> register_neuron(MyIF, to_trlif=lambda m: TrLIFParams(tau=float("inf"), threshold=1.0,
    ...                 reset="soft", decay_input=False))
    >>> net = convert(nn.Sequential(nn.Linear(3, 4), MyIF()), mp_init=False)
    >>> isinstance(net[1], TrLIF)
    True
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.errors import ConversionError
from ..mp_init import MPInitMixin
from ..neurons import TrLIF
from .layers import TimeFolded

__all__ = [
    "ConversionError",
    "MPInitNeuron",
    "TrLIFParams",
    "convert",
    "register_neuron",
]

IF_TAU_RAW = -60.0
"""``tau_raw`` standing for "no leak": ``k = sigmoid(-60) ~ 9e-27``, so ``1 - k == 1`` exactly."""

_PACKAGES = ("spikingjelly", "snntorch", "norse")

Runner = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``run(neuron, x [T, B, ...], v0 [B, ...]) -> (spikes [T, B, ...], U[T] after the reset)``."""


@dataclass(frozen=True)
class TrLIFParams:
    """A neuron's constants as TrLIF initial values (what a ``to_trlif`` mapping returns).

    ``tau=math.inf`` means no leak (IF); ``tau_raw`` overrides ``tau`` with the raw parameter
    (``tau = 1 / sigmoid(tau_raw)``) when the original stores that; ``inexact`` says why the
    TrLIF is not the same neuron (``exact=True`` then refuses it).
    """

    tau: float
    threshold: float
    reset: str = "soft"
    decay_input: bool = True
    detach_reset: bool = False
    learn_tau: bool = False
    learn_threshold: bool = False
    tau_raw: float | None = None
    inexact: str | None = None


@dataclass(frozen=True)
class _Mapping:
    to_trlif: Callable[[nn.Module], TrLIFParams] | None
    run: Runner | None
    step: Callable[[nn.Module], bool]


_REGISTRY: dict[type, _Mapping] = {}
_BUILTIN: dict[tuple[str, str], _Mapping] = {}


def register_neuron(
    cls: type[nn.Module],
    *,
    to_trlif: Callable[[nn.Module], TrLIFParams] | None = None,
    run: Runner | None = None,
    step_mode: bool | Callable[[nn.Module], bool] = False,
) -> None:
    """Teach :func:`convert` a neuron class (exact type; replaces an earlier mapping).

    Args:
        cls: the neuron's class.
        to_trlif: ``f(module) -> TrLIFParams`` for ``to="trlif"``.
        run: ``f(module, x, v0) -> (spikes, v_last)`` for ``to="mp-init"``: run the whole sequence
            ``x: [T, B, ...]`` starting from the potential ``v0`` and return the spikes and the
            potential after the last step's reset.
        step_mode: the module is called once per timestep (``True``, or ``f(module) -> bool``).
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_neuron needs an nn.Module class, got {cls!r}")
    if to_trlif is None and run is None:
        raise ValueError("register_neuron needs to_trlif=..., run=... or both")
    step = step_mode if callable(step_mode) else (lambda m, s=bool(step_mode): s)
    _REGISTRY[cls] = _Mapping(to_trlif, run, step)


def _package(module: nn.Module) -> str:
    return type(module).__module__.split(".")[0]


def _mapping(module: nn.Module) -> _Mapping | None:
    if type(module) in _REGISTRY:
        return _REGISTRY[type(module)]
    return _BUILTIN.get((_package(module), type(module).__name__))


def _is_foreign_neuron(module: nn.Module) -> bool:
    """A neuron class of SpikingJelly, snnTorch or Norse (whether or not we know it)."""
    where = type(module).__module__
    if where.startswith(("spikingjelly.activation_based.neuron", "snntorch._neurons")):
        return True
    if where.startswith("norse.torch.module") and type(module).__name__ not in (
        "SequentialState",
        "RecurrentSequential",
        "Lift",
    ):
        import inspect

        return "state" in inspect.signature(module.forward).parameters
    return False


# ---------------------------------------------------------------- helpers
def _scalar(value: Any, what: str, module: nn.Module) -> float:
    t = torch.as_tensor(value)
    if t.numel() != 1:
        raise ConversionError(
            f"{type(module).__name__}: {what} has shape {tuple(t.shape)}; TrLIF converts one value "
            "per layer (per_channel=True needs values along dim 2)"
        )
    return float(t.reshape(()))


def _learns(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.requires_grad


def _sj_reset(module: Any) -> str:
    v_reset = module.v_reset
    if v_reset is None:
        return "soft"
    if float(v_reset) == 0.0:
        return "hard"
    raise ConversionError(
        f"{type(module).__name__}(v_reset={v_reset}): TrLIF resets to 0 (hard) or by "
        "subtraction (soft, v_reset=None); another reset potential has no TrLIF equivalent"
    )


def _sj_lif(module: Any) -> TrLIFParams:
    return TrLIFParams(
        tau=float(module.tau),
        threshold=float(module.v_threshold),
        reset=_sj_reset(module),
        decay_input=bool(module.decay_input),
        detach_reset=bool(module.detach_reset),
    )


def _sj_plif(module: Any) -> TrLIFParams:
    return TrLIFParams(
        tau=math.nan,
        tau_raw=_scalar(module.w.detach(), "w", module),
        threshold=float(module.v_threshold),
        reset=_sj_reset(module),
        decay_input=bool(module.decay_input),
        detach_reset=bool(module.detach_reset),
        learn_tau=module.w.requires_grad,
    )


def _sj_if(module: Any) -> TrLIFParams:
    return TrLIFParams(
        tau=math.inf,
        threshold=float(module.v_threshold),
        reset=_sj_reset(module),
        decay_input=False,
        detach_reset=bool(module.detach_reset),
    )


def _sj_run(module: Any, x: torch.Tensor, v0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    module.reset()
    module.v = v0
    if module.step_mode == "m":
        spikes = module(x)
    else:
        spikes = torch.stack([module(xt) for xt in x])
    v = module.v
    module.reset()
    return spikes, v


def _snntorch_leaky(module: Any) -> TrLIFParams:
    for flag in ("inhibition", "state_quant"):
        if getattr(module, flag, False):
            raise ConversionError(f"snnTorch Leaky({flag}=...) has no TrLIF equivalent")
    if _scalar(module.graded_spikes_factor, "graded_spikes_factor", module) != 1.0:
        raise ConversionError(
            "snnTorch Leaky(graded_spikes_factor != 1) scales its spikes; TrLIF's TrSG output is "
            "Vthr * S (surrogate='trsg') or S"
        )
    mechanism = module.reset_mechanism
    if mechanism not in ("subtract", "zero"):
        raise ConversionError(
            f"snnTorch Leaky(reset_mechanism={mechanism!r}) never resets; TrLIF always does"
        )
    beta = min(max(_scalar(module.beta.detach(), "beta", module), 0.0), 1.0)
    if beta <= 0.0:
        raise ConversionError("snnTorch Leaky(beta=0) has tau = 1; TrLIF needs tau > 1")
    delay = bool(getattr(module, "reset_delay", True))
    inexact = None
    if mechanism == "subtract" and delay:
        inexact = (
            "snnTorch Leaky(reset_mechanism='subtract', reset_delay=True) subtracts the threshold "
            "one step later and undecayed (H[t+1] = beta H[t] + X - Vthr S[t]; TrLIF: "
            "beta (H[t] - Vthr S[t]) + X)"
        )
    elif mechanism == "subtract":
        inexact = (
            "snnTorch Leaky(reset_mechanism='subtract', reset_delay=False) subtracts the threshold "
            "once more before the next firing test when the potential after a reset is still above "
            "it; TrLIF does not (the two agree while H < 2 Vthr)"
        )
    return TrLIFParams(
        tau=math.inf if beta >= 1.0 else 1.0 / (1.0 - beta),
        threshold=_scalar(module.threshold.detach(), "threshold", module),
        reset="soft" if mechanism == "subtract" else "hard",
        decay_input=False,
        detach_reset=delay,
        learn_tau=_learns(module.beta),
        learn_threshold=_learns(module.threshold),
        inexact=inexact,
    )


def _snntorch_run(
    module: Any, x: torch.Tensor, v0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    mem, outs = v0, []
    for xt in x:
        if module.init_hidden:
            module.mem = mem
            out = module(xt)
            spk = out[0] if isinstance(out, tuple) else out
            mem = module.mem
        else:
            spk, mem = module(xt, mem)
        outs.append(spk)
    spikes = torch.stack(outs)
    if getattr(module, "reset_delay", True):  # the stored potential is before the last reset
        fired = (spikes[-1] != 0).to(mem.dtype)
        if module.reset_mechanism == "subtract":
            mem = mem - fired * module.threshold
        elif module.reset_mechanism == "zero":
            mem = mem * (1 - fired)
    if module.init_hidden:
        module.reset_mem()
    return spikes, mem


def _norse_constants(module: Any, p: Any) -> tuple[float, float, bool, bool]:
    name = type(module).__name__
    for what in ("v_leak", "v_reset"):
        if _scalar(getattr(p, what), what, module) != 0.0:
            raise ConversionError(
                f"Norse {name}(p.{what} != 0): TrLIF leaks towards 0 and resets to 0 or by "
                "subtraction"
            )
    k = float(module.dt) * _scalar(p.tau_mem_inv.detach(), "tau_mem_inv", module)
    if not 0.0 < k < 1.0:
        raise ConversionError(
            f"Norse {name}: dt * tau_mem_inv = {k}; TrLIF needs tau = 1 / (dt * tau_mem_inv) > 1"
        )
    threshold = _scalar(torch.as_tensor(p.v_th).detach(), "v_th", module)
    return 1.0 / k, threshold, _learns(p.tau_mem_inv), _learns(p.v_th)


def _norse_lif(module: Any) -> TrLIFParams:
    p = module.p
    tau, threshold, learn_tau, learn_thr = _norse_constants(module, p)
    syn = float(module.dt) * _scalar(p.tau_syn_inv.detach(), "tau_syn_inv", module)
    inexact = None
    if syn != 1.0:
        inexact = (
            f"Norse {type(module).__name__}: dt * tau_syn_inv = {syn:g}, so its synaptic current "
            f"keeps {1 - syn:g} of itself per step (two state variables); TrLIF has none: set "
            "tau_syn_inv = 1 / dt for an exact match"
        )
    return TrLIFParams(
        tau=tau,
        threshold=threshold,
        reset="hard",
        decay_input=True,
        learn_tau=learn_tau,
        learn_threshold=learn_thr,
        inexact=inexact,
    )


def _norse_box(module: Any) -> TrLIFParams:
    from norse.torch.functional.reset import reset_subtract, reset_value

    p = module.p
    tau, threshold, learn_tau, learn_thr = _norse_constants(module, p)
    if p.reset_method is reset_subtract:
        reset = "soft"
    elif p.reset_method is reset_value:
        reset = "hard"
    else:
        raise ConversionError(f"Norse LIFBoxCell: unknown reset_method {p.reset_method!r}")
    return TrLIFParams(
        tau=tau,
        threshold=threshold,
        reset=reset,
        decay_input=True,
        learn_tau=learn_tau,
        learn_threshold=learn_thr,
    )


def _norse_run(module: Any, x: torch.Tensor, v0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from norse.torch.functional.lif import LIFFeedForwardState
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState

    if type(module).__name__ == "LIFBoxCell":
        state: Any = LIFBoxFeedForwardState(v=v0)
    else:
        state = LIFFeedForwardState(v=v0, i=torch.zeros_like(v0))
    if type(module).__name__ == "LIF":
        spikes, state = module(x, state)
    else:
        outs = []
        for xt in x:
            z, state = module(xt, state)
            outs.append(z)
        spikes = torch.stack(outs)
    return spikes, state.v


def _sj_step(module: nn.Module) -> bool:
    return module.step_mode == "s"


for _name, _fn in (("LIFNode", _sj_lif), ("ParametricLIFNode", _sj_plif), ("IFNode", _sj_if)):
    _BUILTIN[("spikingjelly", _name)] = _Mapping(_fn, _sj_run, _sj_step)
_BUILTIN[("snntorch", "Leaky")] = _Mapping(_snntorch_leaky, _snntorch_run, lambda m: True)
_BUILTIN[("norse", "LIF")] = _Mapping(_norse_lif, _norse_run, lambda m: False)
_BUILTIN[("norse", "LIFCell")] = _Mapping(_norse_lif, _norse_run, lambda m: True)
_BUILTIN[("norse", "LIFBoxCell")] = _Mapping(_norse_box, _norse_run, lambda m: True)


# ---------------------------------------------------------------- the MP-Init wrapper
class MPInitNeuron(MPInitMixin, nn.Module):
    """Another package's neuron with MP-Init: ``U[0] = mp_mean``, learnt from ``U[T]`` (docs/METHOD.md §2.2).

    A multi-step layer: ``x: [T, B, ...] -> spikes [T, B, ...]``; the wrapped neuron's own state
    is reset before and after every call (stateless across calls, like TrLIF).
    """

    def __init__(self, neuron: nn.Module, run: Runner, momentum: float = 0.1) -> None:
        super().__init__()
        self.neuron = neuron
        self._run = run
        self.init_mp(momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"MPInitNeuron expects time-major [T, B, ...], got {tuple(x.shape)}")
        v0 = self.mp_initial(x[0]).clone()
        spikes, v_last = self._run(self.neuron, x, v0)
        self.mp_observe(v_last.detach(), (spikes != 0).any(0))
        return spikes


# ---------------------------------------------------------------- convert
def _trlif_from(params: TrLIFParams, options: dict[str, Any], like: nn.Module) -> TrLIF:
    learn_tau = params.learn_tau if options["learn_tau"] is None else options["learn_tau"]
    learn_thr = (
        params.learn_threshold if options["learn_threshold"] is None else options["learn_threshold"]
    )
    if params.threshold <= 0 or not math.isfinite(params.threshold):
        raise ConversionError(f"{type(like).__name__}: threshold {params.threshold} is not > 0")
    lif = TrLIF(
        init_threshold=params.threshold,
        surrogate=options["surrogate"],
        mp_init=options["mp_init"],
        mp_momentum=options["mp_momentum"],
        decay_input=params.decay_input,
        reset=params.reset,
        detach_reset=params.detach_reset,
        learn_tau=learn_tau,
        learn_threshold=learn_thr,
        backend=options["backend"],
    )
    if params.tau_raw is not None:
        raw = params.tau_raw
    elif math.isinf(params.tau):
        raw = IF_TAU_RAW
    elif params.tau > 1.0:
        raw = -math.log(params.tau - 1.0)
    else:
        raise ConversionError(f"{type(like).__name__}: tau = {params.tau}; TrLIF needs tau > 1")
    with torch.no_grad():
        lif.tau_raw.fill_(raw)
    tensors = [*like.parameters(), *like.buffers()]
    if tensors:
        lif = lif.to(tensors[0].device)
    return lif


def _detached_copy(model: nn.Module) -> nn.Module:
    """``deepcopy`` that also copies state tensors still attached to a graph (after a forward)."""
    memo: dict[int, Any] = {}
    for m in model.modules():
        pools = [m.__dict__, m._buffers, getattr(m, "_memories", {})]
        for pool in pools:
            for value in list(pool.values()):
                if isinstance(value, torch.Tensor) and value.grad_fn is not None:
                    memo[id(value)] = value.detach().clone()
    return copy.deepcopy(model, memo)


class _Converter:
    def __init__(self, to: str, options: dict[str, Any], exact: bool) -> None:
        self.to, self.options, self.exact = to, options, exact
        self.count = 0

    def replacement(self, name: str, module: nn.Module, mapping: _Mapping) -> nn.Module:
        self.count += 1
        if self.to == "mp-init":
            if mapping.run is None:
                raise ConversionError(
                    f"{name} ({type(module).__name__}) has no MP-Init runner; register one with "
                    "register_neuron(cls, run=...)"
                )
            return MPInitNeuron(module, mapping.run, self.options["mp_momentum"])
        if mapping.to_trlif is None:
            raise ConversionError(
                f"{name} ({type(module).__name__}) has no TrLIF mapping; register one with "
                "register_neuron(cls, to_trlif=...) or use to='mp-init'"
            )
        try:
            params = mapping.to_trlif(module)
        except ConversionError as err:
            raise ConversionError(f"{name}: {err}") from None
        if params.inexact:
            if self.exact:
                raise ConversionError(
                    f"{name}: {params.inexact}. Pass exact=False to convert it to the nearest "
                    "TrLIF anyway, or to='mp-init' to keep this neuron"
                )
            warnings.warn(f"{name}: {params.inexact}; converted anyway", UserWarning, stacklevel=4)
        return _trlif_from(params, self.options, module)

    def unknown(self, name: str, module: nn.Module) -> ConversionError:
        cls = type(module)
        return ConversionError(
            f"convert does not know the neuron {name or 'model'} ({cls.__module__}.{cls.__qualname__});"
            f" register a mapping with stablespike.register_neuron({cls.__name__}, "
            "to_trlif=lambda m: TrLIFParams(...), run=...) (see docs/INTEROP.md)"
        )

    def walk(self, parent: nn.Module, prefix: str, multistep: bool) -> None:
        """Convert the children of ``parent``; ``multistep``: ``parent`` now gets ``[T, B, ...]``."""
        children = list(parent.named_children())
        step_here = isinstance(parent, nn.Sequential) and (
            multistep or any(self.is_step_neuron(c) for _, c in children)
        )
        for child_name, child in children:
            name = f"{prefix}{child_name}"
            mapping = _mapping(child)
            if mapping is not None:
                is_step = mapping.step(child)
                if is_step and not step_here:
                    raise ConversionError(
                        f"{name} ({type(child).__name__}) is a step-mode neuron called one "
                        "timestep at a time by its parent's own forward; convert makes multi-step "
                        "neurons (input [T, B, ...] at once): put the layers in an nn.Sequential "
                        "(snnTorch: init_hidden=True) or make that forward take [T, B, ...]"
                    )
                new = self.replacement(name, child, mapping)
            elif _is_foreign_neuron(child):
                raise self.unknown(name, child)
            elif step_here:
                new = self.multistep_layer(name, child)
            else:
                self.walk(child, f"{name}.", multistep=False)
                continue
            self.put(parent, child_name, new)

    def is_step_neuron(self, module: nn.Module) -> bool:
        mapping = _mapping(module)
        return mapping is not None and mapping.step(module)

    def multistep_layer(self, name: str, module: nn.Module) -> nn.Module:
        if isinstance(module, nn.Sequential):
            self.walk(module, f"{name}.", multistep=True)
            return module
        if _package(module) == "spikingjelly" and hasattr(module, "step_mode"):
            self.walk(module, f"{name}.", multistep=False)
            module.step_mode = "m"  # type: ignore[assignment]  # torch stubs: tensors/modules only
            return module
        if isinstance(module, (TrLIF, MPInitNeuron, TimeFolded)):
            return module
        self.walk(module, f"{name}.", multistep=False)
        return TimeFolded(module)

    @staticmethod
    def put(parent: nn.Module, child_name: str, new: nn.Module) -> None:
        setattr(parent, child_name, new)
        flags = getattr(parent, "stateful_layers", None)  # Norse SequentialState
        if isinstance(flags, list) and child_name.isdigit() and int(child_name) < len(flags):
            flags[int(child_name)] = False


def convert(
    model: nn.Module,
    to: str = "trlif",
    *,
    surrogate: str = "trsg",
    mp_init: bool = True,
    mp_momentum: float = 0.1,
    learn_tau: bool | None = None,
    learn_threshold: bool | None = None,
    exact: bool = True,
    backend: str = "auto",
    inplace: bool = False,
) -> nn.Module:
    """Replace the neurons of ``model`` by TrLIF, or add MP-Init to them (see the module doc).

    Args:
        model: a SpikingJelly / snnTorch / Norse model (or any model using registered neurons).
        to: ``"trlif"`` (replace each neuron by a TrLIF with its constants) or ``"mp-init"``
            (keep it, wrapped in :class:`MPInitNeuron`).
        surrogate, mp_init, mp_momentum, backend: the TrLIF options (``to="trlif"``;
            ``mp_momentum`` also for ``"mp-init"``).
        learn_tau, learn_threshold: ``None`` keeps the original's learnability; ``True`` /
            ``False`` override it (TrSG's learnable threshold: ``learn_threshold=True``).
        exact: refuse neurons a TrLIF does not reproduce exactly (the error says why);
            ``False`` converts them to the nearest TrLIF with a warning.
        inplace: change ``model`` itself instead of a copy.

    Returns the converted model; its forward takes time-major ``[T, B, ...]`` input.

    Raises:
        ConversionError: an unknown neuron (named, with how to register it), a step-mode neuron
            outside an ``nn.Sequential``, a neuron that is not a TrLIF, or no neuron at all.
    """
    if to not in ("trlif", "mp-init"):
        raise ValueError(f"to must be 'trlif' or 'mp-init', got {to!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert needs an nn.Module, got {type(model).__name__}")
    options = {
        "surrogate": surrogate,
        "mp_init": mp_init,
        "mp_momentum": mp_momentum,
        "learn_tau": learn_tau,
        "learn_threshold": learn_threshold,
        "backend": backend,
    }
    TrLIF(surrogate=surrogate, mp_momentum=mp_momentum, backend=backend)  # validates early
    if not inplace:
        model = _detached_copy(model)
    converter = _Converter(to, options, exact)
    mapping = _mapping(model)
    if mapping is not None:  # the model is a single neuron
        if mapping.step(model):
            raise ConversionError(
                f"{type(model).__name__} is a step-mode neuron; convert it inside an nn.Sequential"
            )
        return converter.replacement("model", model, mapping)
    if _is_foreign_neuron(model):
        raise converter.unknown("", model)
    converter.walk(model, "", multistep=False)
    if converter.count == 0:
        raise ConversionError(
            "convert found no neuron it knows in the model (SpikingJelly LIFNode / "
            "ParametricLIFNode / IFNode, snnTorch Leaky, Norse LIF / LIFCell / LIFBoxCell, or a "
            "class given to register_neuron)"
        )
    return model
