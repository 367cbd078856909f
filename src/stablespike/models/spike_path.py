"""Which ops a spike passes through: one table for the deployment tools and the analysis.

Every module, function and method a network calls gets an :class:`OpInfo`:

* its :class:`Kind`, how a pending per-channel scale ``s > 0`` passes it (the rules of
  :mod:`stablespike.deploy.propagate`, which fold thresholds into weights; :mod:`stablespike.
  deploy.ops` classifies the nodes of a traced graph with this table): ``REARRANGE`` ops move
  or copy elements, ``CHANNEL_LOCAL`` ops (pooling, interpolation, ReLU) act within a channel,
  ``REDUCE``, ``MULTIPLY``, ``ADD``, ``METADATA``, the weight layers ``CONV`` / ``LINEAR`` /
  ``BATCHNORM``, the attention ``PRODUCT`` and the ``NEURON`` itself; ``UNKNOWN`` otherwise;
* for modules, ``keeps_spikes``: the output is *spike-derived* when the input is. These are
  the rearranging modules (``nn.Identity``, ``nn.Flatten``, ``nn.Unflatten``, ``nn.Dropout*``;
  not the alpha dropouts, affine while training) and the local pools (``nn.AvgPool*d`` /
  ``nn.MaxPool*d``: a local average can be merged into the next layer's kernel). Global
  averages (``nn.AdaptiveAvgPool*d``, ``x.mean(...)``) and every layer with weights yield real
  values.

:class:`SpikeTracker` tags the spike-derived tensors of a forward pass (the outputs of
:class:`~stablespike.TrLIF` and of the ``keeps_spikes`` modules fed by one); the synaptic
operation counts of :mod:`stablespike.analysis.synops` and :mod:`stablespike.deploy.anytime`
use it. Tensors are recognised by their storage, so views of a tagged tensor are tagged too;
tagged tensors are kept alive until :meth:`SpikeTracker.clear` (called at the start of every
forward of the root model) so that a freed address cannot be mistaken for a spike tensor. As a
fallback, :func:`is_spike_tensor` recognises a tensor whose non-zero entries all equal 1 or a
TrLIF threshold (``S`` or ``Vthr * S`` made by an untracked op such as ``torch.cat``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.models.spike_path import SpikeTracker, module_info
    >>> module_info(nn.AvgPool2d(2)).kind.name, module_info(nn.AvgPool2d(2)).keeps_spikes
    ('CHANNEL_LOCAL', True)
    >>> module_info(nn.AdaptiveAvgPool2d(1)).keeps_spikes
    False
    >>> lif, pool = TrLIF(mp_init=False), nn.AvgPool1d(2)
    >>> model = nn.Sequential(lif, pool)
    >>> with SpikeTracker(model) as tracker:
    ...     y = model(torch.rand(2, 1, 4) * 3)           # [T, B, features]
    >>> tracker.is_spike_derived(y), tracker.is_spike_derived(y * 2)
    (True, False)
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

from ..neurons import TrLIF
from .introspect import HookedObserver
from .transformers import SpikeMatmul

__all__ = [
    "DROPOUT_FUNCTIONS",
    "Kind",
    "OpInfo",
    "SpikeTracker",
    "function_info",
    "is_spike_tensor",
    "keeps_spikes",
    "method_info",
    "module_info",
    "spike_values",
]


class Kind(Enum):
    """How a pending scale passes an op (see :mod:`stablespike.deploy.ops`)."""

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
    ``"neg"`` for ``MULTIPLY``. ``keeps_spikes``: a module whose output is spike-derived when
    its input is (see the module docstring; :class:`SpikeTracker` follows these modules).
    """

    kind: Kind
    spatial: int | None = None
    positive: bool = False
    variant: str = ""
    keeps_spikes: bool = False


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
# alpha dropouts are affine while training: their output is no longer a sum of spikes
_AFFINE_DROPOUT_MODULES = (nn.AlphaDropout, nn.FeatureAlphaDropout)

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


def module_info(module: nn.Module) -> OpInfo:
    """The :class:`OpInfo` of a module (``UNKNOWN`` for one the table does not know)."""
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
        return OpInfo(Kind.REARRANGE, keeps_spikes=not isinstance(module, _AFFINE_DROPOUT_MODULES))
    if isinstance(module, nn.ReLU):
        return OpInfo(Kind.CHANNEL_LOCAL, spatial=0, positive=True)
    if isinstance(module, nn.Upsample):
        return OpInfo(Kind.CHANNEL_LOCAL)
    if isinstance(module, _CHANNEL_LOCAL_MODULES) and not getattr(module, "return_indices", False):
        match = _SPATIAL_SUFFIX.search(type(module).__name__)
        if match is None:
            return _UNKNOWN
        positive = isinstance(module, (_MaxPoolNd, _AdaptiveMaxPoolNd))
        local = isinstance(module, (_AvgPoolNd, _MaxPoolNd))  # adaptive pools: global averages
        return OpInfo(
            Kind.CHANNEL_LOCAL, spatial=int(match.group(1)), positive=positive, keeps_spikes=local
        )
    return _UNKNOWN


def function_info(target: Any, *, attribute: Any = None, return_indices: bool = False) -> OpInfo:
    """The :class:`OpInfo` of a call of the function ``target``.

    ``attribute``: the attribute name of a ``getattr`` call; ``return_indices``: whether a
    pooling call asks for its indices (then the op is ``UNKNOWN``). Raises ``TypeError`` for an
    unhashable ``target``.
    """
    if target is getattr:
        return OpInfo(Kind.METADATA) if attribute in _METADATA_ATTRIBUTES else _UNKNOWN
    if target in _REARRANGE_FUNCTIONS or target in DROPOUT_FUNCTIONS:
        return OpInfo(Kind.REARRANGE)
    if target in _CHANNEL_LOCAL_FUNCTIONS:
        return _UNKNOWN if return_indices else _CHANNEL_LOCAL_FUNCTIONS[target]
    if target in _REDUCE_FUNCTIONS:
        return _REDUCE_FUNCTIONS[target]
    if target in _MULTIPLY_FUNCTIONS:
        return OpInfo(Kind.MULTIPLY, variant=_MULTIPLY_FUNCTIONS[target])
    if target in _ADD_FUNCTIONS:
        return OpInfo(Kind.ADD)
    return _UNKNOWN


def method_info(name: str) -> OpInfo:
    """The :class:`OpInfo` of a call of the tensor method ``name``."""
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


def keeps_spikes(module: nn.Module) -> bool:
    """True when ``module``'s output is spike-derived whenever its input is."""
    return module_info(module).keeps_spikes


def spike_values(model: nn.Module) -> torch.Tensor:
    """The values a spike can take in ``model``: 1 and every TrLIF threshold (float64)."""
    values = [torch.ones(1, dtype=torch.float64)]
    for m in model.modules():
        if isinstance(m, TrLIF):
            values.append(m.threshold.detach().to(torch.float64).reshape(-1).cpu())
    return torch.cat(values)


def is_spike_tensor(x: torch.Tensor, values: torch.Tensor) -> bool:
    """True when ``x`` has non-zero entries and each equals one of ``values`` (in ``x``'s dtype).

    An all-zero tensor is not called a spike tensor: nothing distinguishes it from a silent
    real-valued input (spike tensors are normally recognised by :class:`SpikeTracker`).
    """
    x = x.detach()
    nz = x[x != 0]
    return nz.numel() > 0 and bool(torch.isin(nz, values.to(nz.device, nz.dtype)).all())


def _storage_key(x: torch.Tensor) -> tuple[str, int]:
    return (x.device.type, x.untyped_storage().data_ptr())


class SpikeTracker(HookedObserver):
    """Tags the spike-derived tensors of ``model``'s forward passes (see the module docs)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._keys: set[tuple[str, int]] = set()
        self._alive: list[torch.Tensor] = []
        self._handles: list[Any] = []

    def _register(self) -> list[Any]:
        handles = [self.model.register_forward_pre_hook(lambda *_: self.clear())]
        for m in self.model.modules():
            if isinstance(m, TrLIF):
                handles.append(m.register_forward_hook(self._tag_output))
            elif keeps_spikes(m):
                handles.append(m.register_forward_hook(self._propagate))
        return handles

    def detach(self) -> None:
        """Stop tagging; the tags of the last forward stay until :meth:`clear`."""
        super().detach()

    def clear(self) -> None:
        """Forget the tags (and release the tensors kept alive for them)."""
        self._keys.clear()
        self._alive.clear()

    def tag(self, x: torch.Tensor) -> None:
        """Mark ``x`` (and every view of its storage) as spike-derived."""
        self._keys.add(_storage_key(x))
        self._alive.append(x)

    def is_spike_derived(self, x: torch.Tensor) -> bool:
        """True when ``x`` shares its storage with a tagged tensor."""
        return _storage_key(x) in self._keys

    def _tag_output(self, module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> None:
        self.tag(out)

    def _propagate(self, module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and self.is_spike_derived(inputs[0]):
            self.tag(out)
