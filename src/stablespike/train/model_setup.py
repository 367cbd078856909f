"""Building the model a :class:`~stablespike.train.config.TrainConfig` describes.

Example:
    >>> from stablespike.train.config import TrainConfig
    >>> cfg = TrainConfig(surrogate="rs", mp_init=False, learn="threshold", timesteps=2)
    >>> net = build_train_model(cfg, num_classes=10, input_shape=(1, 28, 28))
    >>> net.config["neuron_kwargs"]["surrogate"], net.config["timesteps"]
    ('rs', 2)
"""

from __future__ import annotations

from torch import nn

from ..models import build_model
from .config import TrainConfig
from .errors import ConfigError

__all__ = ["build_train_model"]


def build_train_model(
    cfg: TrainConfig, *, num_classes: int, input_shape: tuple[int, int, int]
) -> nn.Module:
    """``cfg.model`` with ``cfg``'s neuron options, T, dropout, sized for ``input_shape``.

    Models that take an ``input_size`` option (the CNNs) get the data's height; ``drop_path > 0``
    is passed to the model (the transformers take it; other models refuse it).
    """
    common = dict(
        num_classes=num_classes,
        in_channels=input_shape[0],
        timesteps=cfg.timesteps,
        neuron_kwargs=cfg.neuron_kwargs(),
        dropout=None if cfg.dropout < 0 else cfg.dropout,
        **({"drop_path": cfg.drop_path} if cfg.drop_path > 0 else {}),
    )
    try:
        try:
            return build_model(cfg.model, **common, input_size=input_shape[1])
        except ValueError as err:
            if "input_size" not in str(err):
                raise
            return build_model(cfg.model, **common)
    except ValueError as err:
        raise ConfigError(str(err)) from None
