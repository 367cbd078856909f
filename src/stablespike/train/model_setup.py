"""Building the model a :class:`~stablespike.train.config.TrainConfig` describes.

Example:
    >>> from stablespike.train.config import TrainConfig
    >>> cfg = TrainConfig(surrogate="rs", mp_init=False, learn="threshold", timesteps=2)
    >>> net = build_train_model(cfg, num_classes=10, input_shape=(1, 28, 28))
    >>> net.config["neuron_kwargs"]["surrogate"], net.config["timesteps"]
    ('rs', 2)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.errors import ConfigError
from ..models import build_model
from ..models.registry import model_options
from .config import TrainConfig

__all__ = ["build_train_model", "compile_model", "compile_seconds"]


def build_train_model(
    cfg: TrainConfig, *, num_classes: int, input_shape: tuple[int, int, int]
) -> nn.Module:
    """``cfg.model`` with ``cfg``'s neuron options, T, dropout, sized for ``input_shape``.

    Models that take an ``input_size`` option (the CNNs) get the data's height; ``drop_path > 0``
    is passed to the model (the transformers take it; other models refuse it).
    """
    common: dict[str, Any] = dict(
        num_classes=num_classes,
        in_channels=input_shape[0],
        timesteps=cfg.timesteps,
        neuron_kwargs=cfg.neuron_kwargs(),
        dropout=None if cfg.dropout < 0 else cfg.dropout,
        **({"drop_path": cfg.drop_path} if cfg.drop_path > 0 else {}),
    )
    accepted = model_options(cfg.model)
    if accepted is None or "input_size" in accepted:
        common["input_size"] = input_shape[1]
    try:
        return build_model(cfg.model, **common)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def compile_model(model: nn.Module, enabled: bool, backend: str = "inductor") -> nn.Module:
    """``torch.compile(model)`` when ``enabled``, else ``model`` itself.

    PyTorch's default shape handling: the first call compiles for its shapes, and the first
    change of a size (the smaller last batch of an epoch, another T) compiles once more with that
    dimension dynamic, which later sizes reuse; training and eval mode compile separately.
    (``dynamic=True`` would make every size symbolic from the start, spatial ones included, which
    Inductor in torch 2.13 cannot lower for ResNets: "cannot determine truth value of
    Relational".) The compiled module shares ``model``'s parameters and buffers;
    :func:`~.distributed.unwrap` returns ``model`` for checkpoints.
    """
    if not enabled:
        return model
    return torch.compile(model, backend=backend)  # type: ignore[return-value]


def compile_seconds() -> float:
    """Seconds this process has spent in torch.compile (Dynamo, AOT autograd and the backend)."""
    from torch._dynamo.utils import compile_times

    names, values = compile_times(repr="csv", aggregate=True)  # values: strings, typed object
    times = [float(v) for n, v in zip(names, values, strict=False) if n == "_compile.compile_inner"]  # type: ignore[arg-type]
    return sum(times)
