"""Which graph nodes a pending scale can pass, and how (a classification table).

Every node of a traced graph gets an :class:`OpInfo` from the op table of
:mod:`stablespike.models.spike_path` (shared with the analysis's spike tracking). Its
:class:`Kind` selects the rule in :mod:`stablespike.deploy.propagate`; ``UNKNOWN`` means a scale
reaching the node is refused.

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

from typing import Any

from torch import fx

# the table itself (shared with the analysis's spike tracking) lives in the models layer
from ..models.spike_path import (
    DROPOUT_FUNCTIONS,
    Kind,
    OpInfo,
    function_info,
    method_info,
    module_info,
)

__all__ = [
    "DROPOUT_FUNCTIONS",
    "Kind",
    "OpInfo",
    "arg",
    "classify",
    "describe",
    "first_input",
]

_UNKNOWN = OpInfo(Kind.UNKNOWN)


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


def _function_info(node: fx.Node) -> OpInfo:
    return function_info(
        node.target,
        attribute=arg(node, 1, "name") if node.target is getattr else None,
        return_indices=bool(node.kwargs.get("return_indices")),
    )


def classify(node: fx.Node, gm: fx.GraphModule) -> OpInfo:
    """The :class:`OpInfo` of ``node`` (placeholders, attributes and the output: ``UNKNOWN``)."""
    try:
        if node.op == "call_module":
            return module_info(gm.get_submodule(str(node.target)))
        if node.op == "call_function":
            return _function_info(node)
        if node.op == "call_method":
            return method_info(str(node.target))
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
