"""Absorbing a positive scale of a layer's input channels into the layer, exactly.

With ``s`` the scale of input channel ``c`` (a ``0-d`` tensor for all channels alike),
:func:`absorb_input_scale_` changes a layer ``f`` in place so that ``f'(x) = f(s * x)``:

* ``Linear``:  ``W'[:, c] = W[:, c] * s[c]``.
* ``ConvNd`` (any padding mode: padding copies or zero-fills within a channel, which commutes
  with the scale; any ``groups``): ``W'[o, j] = W[o, j] * s[g(o) * C_in/groups + j]`` where
  ``g(o)`` is the group of output channel ``o``; transposed conv: ``W'[c] = W[c] * s[c]``.
* ``BatchNorm`` in eval, ``BN(x) = (x - m) / sqrt(v + eps) * w + b``:
  ``BN(s x) = (x - m / s) / sqrt(v + eps) * (w s) + b``, so ``m' = m / s``, ``w' = w s``;
  without affine weight, ``v' = (v + eps) / s^2 - eps`` gives the same ``1 / sqrt(v' + eps)``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike.deploy.weights import absorb_input_scale_
    >>> lin = nn.Linear(2, 1, bias=False)
    >>> _ = lin.weight.data.fill_(1.0)
    >>> absorb_input_scale_(lin, torch.tensor([2.0, 3.0]))
    >>> lin.weight.tolist()
    [[2.0, 3.0]]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import cast

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from .scale import Refusal


def _per_output(scale: torch.Tensor, conv: _ConvNd) -> torch.Tensor:
    """``scale[C_in]`` laid out like a (non-transposed) conv weight ``[C_out, C_in/groups, 1...]``."""
    groups = conv.groups
    out_per_group = conv.out_channels // groups
    in_per_group = conv.in_channels // groups
    grid = scale.reshape(groups, 1, in_per_group).expand(groups, out_per_group, in_per_group)
    return grid.reshape(conv.out_channels, in_per_group, *(1,) * (conv.weight.dim() - 2))


def _weight_factor(module: nn.Module, scale: torch.Tensor) -> torch.Tensor:
    if scale.dim() == 0:
        return scale
    if isinstance(module, nn.Linear):
        return scale.view(1, -1)
    if isinstance(module, _ConvNd) and module.transposed:
        return scale.view(-1, *(1,) * (module.weight.dim() - 1))
    if isinstance(module, _ConvNd):
        return _per_output(scale, module)
    raise TypeError(f"no weight layout known for {type(module).__name__}")


def _absorb_batchnorm_(bn: _BatchNorm, scale: torch.Tensor) -> None:
    # running statistics exist: checked through unabsorbable_reason by the caller
    mean, var = cast(torch.Tensor, bn.running_mean), cast(torch.Tensor, bn.running_var)
    s = scale.expand(bn.num_features).to(mean)
    mean.div_(s)
    if bn.weight is not None:
        bn.weight.mul_(s.to(bn.weight))
    else:
        var.add_(bn.eps).div_(s * s).sub_(bn.eps)


def unabsorbable_reason(module: nn.Module) -> str | None:
    """Why ``module`` cannot absorb an input scale exactly, or ``None`` when it can."""
    if isinstance(module, _BatchNorm):
        if module.running_mean is None or module.running_var is None:
            return "a BatchNorm without running statistics normalises with batch statistics"
        return None
    if isinstance(module, (nn.Linear, _ConvNd)):
        return None
    return f"{type(module).__name__} has no known way to absorb an input scale"


def absorb_input_scale_(module: nn.Module, scale: torch.Tensor) -> None:
    """Make ``module(x)`` compute the old ``module(scale * x)`` (``scale`` per input channel)."""
    reason = unabsorbable_reason(module)
    if reason is not None:
        raise ValueError(f"cannot absorb an input scale: {reason}")
    with torch.no_grad():
        if isinstance(module, _BatchNorm):
            _absorb_batchnorm_(module, scale)
        else:  # a Linear or Conv (unabsorbable_reason)
            weight = cast(torch.Tensor, module.weight)
            weight.mul_(_weight_factor(module, scale).to(weight))


def check_private_weights(root: nn.Module, names: Iterable[str]) -> None:
    """Raise :class:`Refusal` if a layer to fold shares or derives its weights (tying, ...)."""
    owners = Counter(
        id(t)
        for m in root.modules()  # distinct modules: a reused module is checked per call site
        for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)]
    )
    for name in names:
        module = root.get_submodule(name)
        if parametrize.is_parametrized(module):
            raise Refusal(f"'{name}' has parametrized weights, which cannot be rescaled in place")
        tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        if any(owners[id(t)] > 1 for t in tensors):
            raise Refusal(f"'{name}' shares a weight or buffer with another module")
