"""Which graph nodes a pending scale can pass, and how (a classification table).

Every node of a traced graph gets an :class:`OpInfo`. Its :class:`Kind` selects the rule in
:mod:`stablespike.deploy.propagate`; ``UNKNOWN`` means a scale reaching the node is refused.

Kinds, with ``s > 0`` the pending scale and why each is exact:

* ``REARRANGE``: moves or copies elements (view, flatten, permute, getitem, cat, identity,
  dropout in eval ...): ``op(s * x) = op(s) * op(x)`` elementwise.
* ``CHANNEL_LOCAL``: linear or positively homogeneous within each channel (avg / max / adaptive
  pooling, interpolation, ReLU): ``op(s * x) = s * op(x)`` when ``s`` is constant over the
  ``spatial`` trailing dims the op mixes (max-type ops need ``s > 0``).
* ``REDUCE``: ``mean`` / ``sum`` / ``amax`` / ``amin`` over dims along which ``s`` is constant.
* ``MULTIPLY``: ``mul`` / ``div`` / ``neg``: the factors multiply (or divide).
* ``ADD``: ``add`` / ``sub``: exact only when every operand carries the same scale.
* ``METADATA``: shape queries (``x.shape``, ``x.size()``): the result carries no scale.
* ``CONV`` / ``LINEAR`` / ``BATCHNORM``: absorb the scale of their input channels.
* ``PRODUCT``: an attention product (:class:`~stablespike.models.transformers.SpikeMatmul`,
  ``left @ right``): absorbs uniform (scalar) scales of its operands into its ``scale``; a scale
  that varies is summed over inside the product and is refused.
* ``NEURON``: a :class:`~stablespike.TrLIF`; the source of scales, and non-linear in its input.

Example:
    >>> from torch import fx, nn
    >>> from stablespike.deploy.ops import Kind, classify
    >>> gm = fx.symbolic_trace(nn.Sequential(nn.Conv2d(1, 1, 1), nn.AvgPool2d(2)))
    >>> [classify(n, gm).kind.name for n in gm.graph.nodes]
    ['UNKNOWN', 'CONV', 'CHANNEL_LOCAL', 'UNKNOWN']
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

from ..models.transformers import SpikeMatmul
from ..neurons import TrLIF


class Kind(Enum):
    """How a pending scale passes a node (see the module docstring)."""

    REARRANGE = auto()
    CHANNEL_LOCAL = auto()
    REDUCE = auto()
    MULTIPLY = auto()
    ADD = auto()
    METADATA = auto()
    CONV = auto()
    LINEAR = auto()
    BATCHNORM = auto()
    PRODUCT = auto()
    NEURON = auto()
    UNKNOWN = auto()


@dataclass(frozen=True)
class OpInfo:
    """A node's :class:`Kind` plus the details its rule needs.

    ``spatial``: trailing dims a ``CHANNEL_LOCAL`` op mixes (``None``: all dims after batch and
    channel). ``positive``: exact only for ``s > 0``. ``variant``: ``"mul"``, ``"div"`` or
    ``"neg"`` for ``MULTIPLY``.
    """

    kind: Kind
    spatial: int | None = None
    positive: bool = False
    variant: str = ""


_UNKNOWN = OpInfo(Kind.UNKNOWN)

_REARRANGE_FUNCTIONS = {
    operator.getitem,
    torch.flatten,
    torch.unflatten,
    torch.reshape,
    torch.permute,
    torch.transpose,
    torch.swapaxes,
    torch.movedim,
    torch.squeeze,
    torch.unsqueeze,
    torch.narrow,
    torch.select,
    torch.clone,
    torch.cat,
    torch.concat,
    torch.stack,
}
_REARRANGE_METHODS = {
    "view",
    "view_as",
    "reshape",
    "reshape_as",
    "flatten",
    "unflatten",
    "permute",
    "transpose",
    "movedim",
    "squeeze",
    "unsqueeze",
    "expand",
    "expand_as",
    "repeat",
    "narrow",
    "select",
    "contiguous",
    "clone",
    "detach",
}
_REARRANGE_MODULES = (nn.Identity, nn.Flatten, nn.Unflatten, _DropoutNd)

# dropout functions -> their default ``training`` (they pass a scale only when not training)
DROPOUT_FUNCTIONS: dict[Any, bool] = {
    F.dropout: True,
    F.dropout1d: True,
    F.dropout2d: True,
    F.dropout3d: True,
    F.alpha_dropout: False,
    F.feature_alpha_dropout: False,
}

_CHANNEL_LOCAL_FUNCTIONS: dict[Any, OpInfo] = {
    **{
        f: OpInfo(Kind.CHANNEL_LOCAL, spatial=d)
        for d, f in enumerate((F.avg_pool1d, F.avg_pool2d, F.avg_pool3d), start=1)
    },
    **{
        f: OpInfo(Kind.CHANNEL_LOCAL, spatial=d)
        for d, f in enumerate(
            (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d), start=1
        )
    },
    **{
        f: OpInfo(Kind.CHANNEL_LOCAL, spatial=d, positive=True)
        for d, f in enumerate((F.max_pool1d, F.max_pool2d, F.max_pool3d), start=1)
    },
    **{
        f: OpInfo(Kind.CHANNEL_LOCAL, spatial=d, positive=True)
        for d, f in enumerate(
            (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d), start=1
        )
    },
    F.interpolate: OpInfo(Kind.CHANNEL_LOCAL),
    F.relu: OpInfo(Kind.CHANNEL_LOCAL, spatial=0, positive=True),
    torch.relu: OpInfo(Kind.CHANNEL_LOCAL, spatial=0, positive=True),
}
_CHANNEL_LOCAL_METHODS = {"relu": OpInfo(Kind.CHANNEL_LOCAL, spatial=0, positive=True)}
_CHANNEL_LOCAL_MODULES = (_AvgPoolNd, _AdaptiveAvgPoolNd, _MaxPoolNd, _AdaptiveMaxPoolNd)

_REDUCE_FUNCTIONS: dict[Any, OpInfo] = {
    torch.mean: OpInfo(Kind.REDUCE),
    torch.sum: OpInfo(Kind.REDUCE),
    torch.amax: OpInfo(Kind.REDUCE, positive=True),
    torch.amin: OpInfo(Kind.REDUCE, positive=True),
}
_REDUCE_METHODS = {
    "mean": OpInfo(Kind.REDUCE),
    "sum": OpInfo(Kind.REDUCE),
    "amax": OpInfo(Kind.REDUCE, positive=True),
    "amin": OpInfo(Kind.REDUCE, positive=True),
}

_MULTIPLY_FUNCTIONS = {
    operator.mul: "mul",
    operator.imul: "mul",
    torch.mul: "mul",
    operator.truediv: "div",
    operator.itruediv: "div",
    torch.div: "div",
    torch.true_divide: "div",
    operator.neg: "neg",
    torch.neg: "neg",
}
_MULTIPLY_METHODS = {
    "mul": "mul",
    "mul_": "mul",
    "div": "div",
    "div_": "div",
    "true_divide": "div",
    "neg": "neg",
    "neg_": "neg",
}

_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add, operator.sub, operator.isub, torch.sub}
_ADD_METHODS = {"add", "add_", "sub", "sub_"}

_METADATA_ATTRIBUTES = {"shape", "dtype", "device", "ndim", "is_cuda", "layout"}
_METADATA_METHODS = {"size", "dim", "ndimension", "numel", "nelement"}

_SPATIAL_SUFFIX = re.compile(r"(\d)d$")


def arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` of a call node, given by position ``index`` or by keyword."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def first_input(node: fx.Node) -> Any:
    """The node's data argument: the first positional one, else ``input=`` / ``tensors=``."""
    if node.args:
        return node.args[0]
    return node.kwargs.get("input", node.kwargs.get("tensors"))


def _module_info(module: nn.Module) -> OpInfo:
    if isinstance(module, TrLIF):
        return OpInfo(Kind.NEURON)
    if isinstance(module, _ConvNd):
        return OpInfo(Kind.CONV)
    if isinstance(module, nn.Linear):
        return OpInfo(Kind.LINEAR)
    if isinstance(module, _BatchNorm):
        return OpInfo(Kind.BATCHNORM)
    if isinstance(module, SpikeMatmul):
        return OpInfo(Kind.PRODUCT)
    if isinstance(module, _REARRANGE_MODULES):
        return OpInfo(Kind.REARRANGE)
    if isinstance(module, nn.ReLU):
        return OpInfo(Kind.CHANNEL_LOCAL, spatial=0, positive=True)
    if isinstance(module, nn.Upsample):
        return OpInfo(Kind.CHANNEL_LOCAL)
    if isinstance(module, _CHANNEL_LOCAL_MODULES) and not getattr(module, "return_indices", False):
        match = _SPATIAL_SUFFIX.search(type(module).__name__)
        if match is None:
            return _UNKNOWN
        positive = isinstance(module, (_MaxPoolNd, _AdaptiveMaxPoolNd))
        return OpInfo(Kind.CHANNEL_LOCAL, spatial=int(match.group(1)), positive=positive)
    return _UNKNOWN


def _function_info(node: fx.Node) -> OpInfo:
    target = node.target
    if target is getattr:
        return OpInfo(Kind.METADATA) if arg(node, 1, "name") in _METADATA_ATTRIBUTES else _UNKNOWN
    if target in _REARRANGE_FUNCTIONS or target in DROPOUT_FUNCTIONS:
        return OpInfo(Kind.REARRANGE)
    if target in _CHANNEL_LOCAL_FUNCTIONS:
        return _UNKNOWN if node.kwargs.get("return_indices") else _CHANNEL_LOCAL_FUNCTIONS[target]
    if target in _REDUCE_FUNCTIONS:
        return _REDUCE_FUNCTIONS[target]
    if target in _MULTIPLY_FUNCTIONS:
        return OpInfo(Kind.MULTIPLY, variant=_MULTIPLY_FUNCTIONS[target])
    if target in _ADD_FUNCTIONS:
        return OpInfo(Kind.ADD)
    return _UNKNOWN


def _method_info(name: str) -> OpInfo:
    if name in _REARRANGE_METHODS:
        return OpInfo(Kind.REARRANGE)
    if name in _CHANNEL_LOCAL_METHODS:
        return _CHANNEL_LOCAL_METHODS[name]
    if name in _REDUCE_METHODS:
        return _REDUCE_METHODS[name]
    if name in _MULTIPLY_METHODS:
        return OpInfo(Kind.MULTIPLY, variant=_MULTIPLY_METHODS[name])
    if name in _ADD_METHODS:
        return OpInfo(Kind.ADD)
    if name in _METADATA_METHODS:
        return OpInfo(Kind.METADATA)
    return _UNKNOWN


def classify(node: fx.Node, gm: fx.GraphModule) -> OpInfo:
    """The :class:`OpInfo` of ``node`` (placeholders, attributes and the output: ``UNKNOWN``)."""
    try:
        if node.op == "call_module":
            return _module_info(gm.get_submodule(str(node.target)))
        if node.op == "call_function":
            return _function_info(node)
        if node.op == "call_method":
            return _method_info(str(node.target))
    except TypeError:  # unhashable targets cannot be in the tables
        return _UNKNOWN
    return _UNKNOWN


def describe(node: fx.Node, gm: fx.GraphModule) -> str:
    """A short human name for ``node``: ``module 'a.b' (Conv2d)``, ``torch.sigmoid``, ..."""
    if node.op == "call_module":
        return f"module '{node.target}' ({type(gm.get_submodule(str(node.target))).__name__})"
    if node.op == "call_method":
        return f"method .{node.target}()"
    if node.op == "call_function":
        module = getattr(node.target, "__module__", None) or ""
        name = getattr(node.target, "__name__", repr(node.target))
        module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional"}.get(
            module, module
        )
        return f"{module}.{name}" if module else name
    if node.op == "output":
        return "the model output"
    return f"{node.op} '{node.target}'"
