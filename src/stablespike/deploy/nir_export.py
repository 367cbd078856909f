"""Export a folded stablespike model as a NIR graph (Neuromorphic Intermediate Representation).

:func:`to_nir` folds the thresholds (:func:`~stablespike.deploy.fold_thresholds`, so neurons
emit binary spikes), traces the folded model with torch.fx and writes one NIR node per layer, for
one timestep of one sample (NIR has no time or batch dimension):

* conv / linear with their BatchNorm folded in -> ``Conv2d`` / ``Affine`` (``Linear`` without a
  bias); the non-spiking stem as it is (its conv + BN, then ``AvgPool2d`` if it pools);
* average pooling -> ``AvgPool2d``; global average ``x.mean((3, 4))`` -> ``AvgPool2d`` over the
  whole map + ``Flatten``; ``flatten`` -> ``Flatten``; eval dropout and the time folding
  (``flatten(0, 1)`` / ``unflatten``) -> nothing; a residual sum -> several edges into one node
  (NIR sums a node's inputs); :class:`~stablespike.deploy.ChannelScale` -> ``Scale``;
* a TrLIF neuron (``k = 1 / tau``, time step ``dt``; docs/METHOD.md §1.2)::

      ours:  H = U + k (X - U)        (decay_input=True; H = (1 - k) U + X otherwise)
      NIR:   tau_n dv/dt = (v_leak - v) + r I,  one forward-Euler step of dt:
             v' = v + dt / tau_n * (v_leak - v + r I)

  so ``tau_n = tau * dt``, ``v_leak = 0`` and ``r = 1`` (``r = tau`` for decay_input=False).

  *hard reset* (``U = H (1 - S)``): ``LIF(tau_n, r, v_leak=0, v_threshold=Vthr, v_reset=0)``,
  exact.

  *soft reset* (``U = H - Vthr S``), exact as ``LI -> Threshold(Vthr)`` with a recurrent edge
  ``Threshold -> Scale(w) -> LI``. The LI's state is ``H`` itself:
  ``H[t+1] = (1 - k) (H[t] - Vthr S[t]) + k X[t+1] = H[t] + k (X[t+1] + w S[t] - H[t])``
  with ``w = -Vthr (tau - 1)`` (``r = 1``); for decay_input=False ``w = -Vthr (1 - 1/tau)``
  (``r = tau``). The recurrent edge carries the previous step's spikes.

  ``lif_hard_reset=True`` exports a soft-reset neuron as a plain hard-reset ``LIF`` instead: an
  approximation (the graph's metadata says so).

MP-Init's initial potential ``U[0]`` (the neuron's ``mp_mean``, broadcast to the neuron's
shape) goes into the neuron node's ``metadata["initial_potential"]``. NIR has no field for an
initial state: a backend that ignores metadata starts from 0, which differs from our model in
the first steps. NIR's threshold fires on ``v > Vthr``, ours on ``H >= Vthr``: the two differ
only where ``H`` equals ``Vthr`` exactly.

Refused with :class:`NIRExportError` naming the layer: max pooling (NIR has no max pool),
attention and every other layer without a NIR primitive, and a BatchNorm not directly after a
conv / linear layer.

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> from stablespike.deploy import to_nir
    >>> model = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4).eval()
    >>> graph = to_nir(model, torch.zeros(1, 1, 28, 28))
    >>> [type(graph.nodes[f"stem_lif.{k}"]).__name__ for k in ("li", "threshold", "reset")]
    ['LI', 'Threshold', 'Scale']
    >>> ("stem_lif.reset", "stem_lif.li") in graph.edges       # the soft reset's recurrent edge
    True
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast

import numpy as np
import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.pooling import _MaxPoolNd

from ..core.errors import FoldError, NIRExportError
from ..functional.surrogate import scales_output
from ..models.stem import InputStem
from ..neurons import TrLIF
from .apply import ChannelScale
from .fold import fold_thresholds
from .tracing import record_values, trace_for_fold

__all__ = ["DEFAULT_DT", "NIRExportError", "lif_parameters", "to_nir"]

DEFAULT_DT = 1e-4
"""Time step (seconds) of the exported graph, as in SpikingJelly's NIR exporter."""


def _nir() -> Any:
    try:
        import nir
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "NIR export needs the nir package: pip install 'stablespike[nir]'"
        ) from err
    return nir


def _np(t: torch.Tensor) -> np.ndarray:
    """The values in the model's own precision (float32, or float64 for a double model)."""
    return t.detach().cpu().numpy().copy()


@dataclass
class _Value:
    """What a graph node computes, for one sample and one step: a sum of NIR node outputs."""

    sources: list[str]
    shape: tuple[int, ...]  # per sample, per step
    folded: bool = False  # time folded into the batch ([T*B, ...]) rather than [T, B, ...]
    layer: str = ""  # the conv/linear this value is the direct output of (for BN folding)


@dataclass
class _Builder:
    dt: float
    lif_hard_reset: bool
    nodes: dict[str, Any] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    approximated: list[str] = field(default_factory=list)

    def add(self, name: str, node: Any, inputs: list[str]) -> str:
        if name in self.nodes:
            raise NIRExportError(f"two NIR nodes named {name!r}")
        self.nodes[name] = node
        self.edges += [(s, name) for s in inputs]
        return name


def lif_parameters(lif: TrLIF, shape: tuple[int, ...], dt: float = DEFAULT_DT) -> dict[str, Any]:
    """NIR parameters of ``lif`` over a per-sample ``shape``: tau, r, v_leak, Vthr, w, U0.

    ``w`` is the weight of the recurrent spike edge of the exact soft-reset form.
    """
    if dt <= 0:
        raise ValueError(f"dt must be > 0, got {dt}")

    dtype = lif.tau_raw.dtype

    def full(t: torch.Tensor) -> np.ndarray:
        t = t.detach().to(dtype)
        if t.dim() == 1:  # per channel: dim 0 of the per-sample shape
            t = t.view(-1, *([1] * (len(shape) - 1)))
        return t.expand(shape).cpu().numpy().copy()

    tau, vth = full(lif.tau), full(lif.threshold)
    u0 = full(lif.mp_mean) if lif.mp_enabled else np.zeros(shape, dtype=tau.dtype)
    r = np.ones_like(tau) if lif.decay_input else tau.copy()
    w = -vth * (tau - 1.0) if lif.decay_input else -vth * (1.0 - 1.0 / tau)
    return {
        "tau": tau * dt,
        "r": r,
        "v_leak": np.zeros_like(tau),
        "v_threshold": vth,
        "recurrent_weight": w,
        "initial_potential": u0,
    }


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: _BatchNorm) -> tuple:
    if bn.running_mean is None or bn.running_var is None:
        raise NIRExportError(f"{bn} has no running statistics to fold into the layer before it")
    gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_var)
    beta = bn.bias.detach() if bn.bias is not None else torch.zeros_like(bn.running_mean)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)  # affine=False: gamma 1, beta 0
    shift = beta - bn.running_mean * scale
    w = weight.detach() * scale.view(-1, *([1] * (weight.dim() - 1)))
    b = shift if bias is None else bias.detach() * scale + shift
    return w, b


def _conv_node(nir: Any, conv: nn.Conv2d, w: torch.Tensor, b: torch.Tensor | None, hw: tuple):
    if isinstance(conv.padding, str):
        padding: Any = conv.padding
    else:
        padding = tuple(int(p) for p in conv.padding)
    if conv.padding_mode != "zeros":
        raise NIRExportError(f"conv padding_mode {conv.padding_mode!r} has no NIR equivalent")
    bias = _np(torch.zeros(w.shape[0], dtype=w.dtype)) if b is None else _np(b)
    return nir.Conv2d(
        input_shape=tuple(int(s) for s in hw),
        weight=_np(w),
        stride=tuple(int(s) for s in conv.stride),
        padding=padding,
        dilation=tuple(int(s) for s in conv.dilation),
        groups=int(conv.groups),
        bias=bias,
    )


class _Exporter:
    def __init__(self, gm: fx.GraphModule, values: dict, builder: _Builder) -> None:
        self.gm, self.meta, self.b = gm, values, builder
        self.nir = _nir()
        self.modules = dict(gm.named_modules())
        self.env: dict[fx.Node, Any] = {}
        self.pending: dict[str, tuple] = {}  # conv/linear name -> (kind, module, w, b, input, hw)

    # ------------------------------------------------------------ helpers
    def sample_shape(self, node: fx.Node, folded: bool) -> tuple[int, ...]:
        meta = self.meta[node]
        return tuple(meta.shape[1:] if folded else meta.shape[2:])

    def flush(self, value: _Value) -> list[str]:
        """Create the pending conv/linear nodes ``value`` sums over; return the NIR sources."""
        for name in value.sources:
            if name in self.pending:
                self._emit_layer(name)
        return value.sources

    def _emit_layer(self, name: str) -> None:
        kind, module, w, b, inp, hw = self.pending.pop(name)
        if kind == "conv":
            node = _conv_node(self.nir, module, w, b, hw)
        elif b is None:
            node = self.nir.Linear(weight=_np(w))
        else:
            node = self.nir.Affine(weight=_np(w), bias=_np(b))
        self.b.add(name, node, inp)

    def refuse(self, node: fx.Node, what: str, why: str) -> NoReturn:
        raise NIRExportError(f"layer {what} at node {node.name!r}: {why}; it cannot be exported")

    # ------------------------------------------------------------ run
    def run(self, input_shape: tuple[int, ...], static: bool) -> None:
        nir = self.nir
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.b.add("input", nir.Input(input_type=np.array(input_shape)), [])
                self.env[node] = _Value(["input"], input_shape, folded=static)
            elif node.op == "call_module":
                self.env[node] = self.call_module(node)
            elif node.op in ("call_method", "call_function"):
                self.env[node] = self.call(node)
            elif node.op == "get_attr":
                self.env[node] = ("attr", node.target)
            elif node.op == "output":
                value = self.env[node.args[0]]
                if not isinstance(value, _Value):
                    self.refuse(node, "'output'", "the model output is not a tensor")
                out = self.b.add(
                    "output", nir.Output(output_type=np.array(value.shape)), self.flush(value)
                )
                del out

    def call_module(self, node: fx.Node) -> Any:
        name = str(node.target)
        module = self.modules[name]
        what = f"{name!r} ({type(module).__name__})"
        x = self.env[cast(fx.Node, node.args[0])] if node.args else None
        if not isinstance(x, _Value):
            self.refuse(node, what, "its input is not a tensor of the model")
        nir = self.nir
        if isinstance(module, InputStem):
            w, b = _fold_bn(module.conv.weight, module.conv.bias, module.bn)
            conv = _conv_node(nir, module.conv, w, b, x.shape[-2:])
            src = self.b.add(name, conv, self.flush(x))
            if not isinstance(module.pool, nn.Identity):
                k = module.pool.kernel_size
                src = self.b.add(f"{name}.pool", self._avgpool(module.pool), [src])
                del k
            return _Value([src], self.sample_shape(node, False))
        if isinstance(module, TrLIF):
            return self.neuron(node, name, module, x)
        if isinstance(module, nn.Conv2d):
            shape = self.sample_shape(node, x.folded)
            self.pending[name] = ("conv", module, module.weight, module.bias, self.flush(x),
                                  x.shape[-2:])  # fmt: skip
            return _Value([name], shape, x.folded, layer=name)
        if isinstance(module, nn.Linear):
            shape = self.sample_shape(node, x.folded)
            self.pending[name] = ("linear", module, module.weight, module.bias, self.flush(x), ())
            return _Value([name], shape, x.folded, layer=name)
        if isinstance(module, _BatchNorm):
            layer, source = x.layer, cast(fx.Node, node.args[0])  # x is this node's value
            if not layer or layer not in self.pending or len(source.users) != 1:
                self.refuse(node, what, "NIR has no batch norm and it does not directly follow "
                            "a conv / linear layer it could be folded into")  # fmt: skip
            kind, m, w, b, inp, hw = self.pending[layer]
            w, b = _fold_bn(w, b, module)
            self.pending[layer] = (kind, m, w, b, inp, hw)
            return _Value([layer], x.shape, x.folded, layer=layer)
        if isinstance(module, nn.AvgPool2d):
            src = self.b.add(name, self._avgpool(module), self.flush(x))
            return _Value([src], self.sample_shape(node, x.folded), x.folded)
        if isinstance(module, _MaxPoolNd):
            self.refuse(node, what, "NIR has no max pooling (use average pooling, 'AP' layers)")
        if isinstance(module, (_DropoutNd, nn.Identity)):
            return x
        if isinstance(module, ChannelScale):
            scale = module.scale.detach().to(torch.float64)
            full = scale.reshape(scale.shape[-len(x.shape) :] if scale.dim() > len(x.shape)
                                 else scale.shape).expand(x.shape)  # fmt: skip
            src = self.b.add(name, nir.Scale(scale=_np(full)), self.flush(x))
            return _Value([src], x.shape, x.folded)
        if isinstance(module, nn.Flatten):
            return self.flatten(node, name, x)
        self.refuse(node, what, "NIR has no primitive for it (e.g. attention)")
        return None

    def _avgpool(self, pool: nn.Module) -> Any:
        def pair(v: Any) -> np.ndarray:
            return np.array(v if isinstance(v, (tuple, list)) else (v, v))

        if getattr(pool, "ceil_mode", False) or not getattr(pool, "count_include_pad", True):
            raise NIRExportError(f"{pool} : ceil_mode / count_include_pad=False are not exported")
        stride = pool.stride if pool.stride is not None else pool.kernel_size
        return self.nir.AvgPool2d(
            kernel_size=pair(pool.kernel_size), stride=pair(stride), padding=pair(pool.padding)
        )

    def neuron(self, node: fx.Node, name: str, lif: TrLIF, x: _Value) -> _Value:
        if scales_output(lif.surrogate) and not lif.binary_output:
            raise NIRExportError(f"neuron {name!r} outputs Vthr * S: fold the thresholds first")
        nir = self.nir
        shape = self.sample_shape(node, False)
        p = lif_parameters(lif, shape, self.b.dt)
        meta = {
            "initial_potential": p["initial_potential"],
            "stablespike_neuron": name,
            "reset": lif.reset,
            "decay_input": lif.decay_input,
            "fires_on": "H >= v_threshold (NIR: v > v_threshold)",
        }
        inputs = self.flush(x)
        if lif.reset == "hard" or self.b.lif_hard_reset:
            if lif.reset == "soft":
                self.b.approximated.append(name)
                meta["approximation"] = "soft reset exported as a hard reset to 0"
            node_ = nir.LIF(
                tau=p["tau"], r=p["r"], v_leak=p["v_leak"], v_threshold=p["v_threshold"],
                v_reset=np.zeros_like(p["tau"]), metadata=meta,
            )  # fmt: skip
            return _Value([self.b.add(name, node_, inputs)], shape)
        li = nir.LI(tau=p["tau"], r=p["r"], v_leak=p["v_leak"], metadata=meta)
        self.b.add(f"{name}.li", li, inputs)
        thr = nir.Threshold(threshold=p["v_threshold"], metadata={"stablespike_neuron": name})
        self.b.add(f"{name}.threshold", thr, [f"{name}.li"])
        reset = nir.Scale(
            scale=p["recurrent_weight"],
            metadata={"stablespike_neuron": name, "role": "soft reset (recurrent edge)"},
        )
        self.b.add(f"{name}.reset", reset, [f"{name}.threshold"])
        self.b.edges.append((f"{name}.reset", f"{name}.li"))
        return _Value([f"{name}.threshold"], shape)

    def flatten(self, node: fx.Node, name: str, x: _Value) -> _Value:
        out_shape = (int(np.prod(x.shape)),)
        if len(x.shape) == 1:
            return x
        flat = self.nir.Flatten(input_type={"input": np.array(x.shape)}, start_dim=0, end_dim=-1)
        src = self.b.add(name, flat, self.flush(x))
        return _Value([src], out_shape, x.folded)

    def call(self, node: fx.Node) -> Any:
        target = node.target
        args: list[Any] = [self.env.get(a, a) if isinstance(a, fx.Node) else a for a in node.args]
        x = args[0] if args else None
        if target == "flatten" or target is torch.flatten:
            start = node.kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
            end = node.kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
            if not isinstance(x, _Value):
                return ("meta",)
            if x.folded is False and (start, end) == (0, 1):
                return _Value(x.sources, x.shape, True, x.layer)
            lead = 1 if x.folded else 2
            if start == lead and end == -1:
                return self.flatten(node, node.name, x)
            self.refuse(node, f"'{node.name}' (flatten{start, end})", "only flatten(0, 1) and "
                        "flattening everything after the batch dim are exported")  # fmt: skip
        if target == "unflatten" and isinstance(x, _Value) and x.folded and args[1] == 0:
            return _Value(x.sources, x.shape, False, x.layer)
        if target in (getattr, operator.getitem, "size", "dim") and not isinstance(x, _Value):
            return ("meta",)
        if target is getattr and args[1] in ("shape", "dtype", "device"):
            return ("meta",)
        if target == "to" and isinstance(x, tuple) and x[0] == "attr":
            return x  # a constant moved to the input's dtype (ChannelScale)
        if target in (operator.add, torch.add, "add") and all(isinstance(a, _Value) for a in args):
            a, b = args[0], args[1]
            if a.shape != b.shape or a.folded != b.folded:
                self.refuse(node, f"'{node.name}' (add)", f"operands {a.shape} and {b.shape}")
            return _Value(a.sources + b.sources, a.shape, a.folded)
        if target == "mean" and isinstance(x, _Value) and not x.folded:
            dims: Any = node.kwargs.get("dim", args[1] if len(args) > 1 else None)
            if tuple(dims or ()) in ((3, 4), (-2, -1)) and len(x.shape) == 3:
                c, h, w = x.shape
                pool = self.nir.AvgPool2d(
                    kernel_size=np.array((h, w)), stride=np.array((h, w)), padding=np.array((0, 0))
                )
                src = self.b.add(f"{node.name}.pool", pool, self.flush(x))
                flat = self.nir.Flatten(
                    input_type={"input": np.array((c, 1, 1))}, start_dim=0, end_dim=-1
                )
                return _Value([self.b.add(node.name, flat, [src])], (c,))
        if target in (operator.mul, torch.mul, "mul") and isinstance(x, _Value):
            other = args[1]
            if isinstance(other, tuple) and other[0] == "attr":
                scale = self.gm.get_buffer(other[1]).detach().to(torch.float64)
                full = scale.reshape(scale.shape[-len(x.shape) :]).expand(x.shape)
                src = self.b.add(node.name, self.nir.Scale(scale=_np(full)), self.flush(x))
                return _Value([src], x.shape, x.folded)
        op = getattr(target, "__name__", target)
        stack = node.meta.get("nn_module_stack") or {}
        if stack:  # name the innermost module the op belongs to (e.g. an attention block)
            path, kind = list(stack.values())[-1]
            kind = getattr(kind, "__name__", kind)
            self.refuse(node, f"{path!r} ({kind})", f"its op {op!r} has no NIR primitive")
        self.refuse(node, f"'{node.name}' ({op})", "NIR has no primitive for it")
        return None


def to_nir(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    dt: float = DEFAULT_DT,
    lif_hard_reset: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """A ``nir.NIRGraph`` of ``model``'s folded form, one timestep of one sample.

    Args:
        model: a stablespike model (trained, eval mode) or an already folded one.
        example_input: one input batch (static images ``[B, C, H, W]`` or events
            ``[T, B, C, H, W]``): folding is checked on it and the layers' shapes come from it.
        dt: the time step (seconds) the NIR ``tau`` values are given for (``tau_n = tau * dt``).
        lif_hard_reset: export soft-reset neurons as plain ``LIF`` (hard reset, approximate)
            instead of the exact ``LI`` + ``Threshold`` + recurrent ``Scale`` form.
        metadata: extra entries for the graph's metadata.

    Raises:
        NIRExportError: for a layer NIR cannot express (the message names it).
    """
    nir = _nir()
    if dt <= 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    model = model.eval()
    for name, module in model.named_modules():  # before the (expensive) folding
        if isinstance(module, _MaxPoolNd):
            raise NIRExportError(
                f"layer {name!r} ({type(module).__name__}): NIR has no max pooling (use average "
                "pooling, 'AP' layers); it cannot be exported"
            )
    try:
        folded = fold_thresholds(model, example_input, residual="scale")
    except FoldError as err:
        raise NIRExportError(f"cannot fold the thresholds: {err}") from None
    gm = trace_for_fold(folded)
    values, _ = record_values(gm, (example_input,))
    static = example_input.dim() == 4
    stems = [m for m in folded.modules() if isinstance(m, InputStem)]
    timesteps = stems[0].timesteps if static and stems else int(example_input.shape[0])
    builder = _Builder(dt=dt, lif_hard_reset=lif_hard_reset)
    shape = tuple(example_input.shape[1:] if static else example_input.shape[2:])
    _Exporter(gm, values, builder).run(shape, static)
    meta = {
        "source": "stablespike",
        "dt": dt,
        "timesteps": timesteps,
        "input": "the same image at every step" if static else "one event frame per step",
        "readout": "mean of the output over the timesteps, then argmax",
        "exact": not builder.approximated,
        "approximated_neurons": list(builder.approximated),
    }
    meta.update(metadata or {})
    return nir.NIRGraph(nodes=builder.nodes, edges=builder.edges, metadata=meta, type_check=False)
