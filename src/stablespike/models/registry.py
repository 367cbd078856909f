"""The model registry behind ``--model``: ``register_model``, ``build_model``, ``available_models``.

A builder is any callable taking the keyword arguments ``num_classes``, ``in_channels``,
``timesteps``, ``neuron`` (a :class:`~stablespike.models.factory.NeuronFactory`: each spiking layer is
``neuron(channels)``) and ``dropout``,
plus its own options, and returning an ``nn.Module`` mapping ``[B, C, H, W]`` or
``[T, B, C, H, W]`` to per-timestep logits ``[T, B, num_classes]``.

:func:`build_model` initialises the weights and attaches ``model.config``, a plain dict from which
:func:`model_from_config` rebuilds the same architecture (e.g. from a checkpoint). With a custom
``neuron=`` the config also holds ``"neuron"``, the ``"module:qualname"`` of the class or function:
:func:`model_from_config` imports it again (a lambda or local function cannot be imported: pass
``neuron=`` to :func:`model_from_config` then). A custom neuron's own state (e.g. SpikingJelly's
``v``) is whatever its module puts in the state dict.

Example:
    >>> from stablespike.models import build_model, model_from_config
    >>> net = build_model("fmnist-cnn", num_classes=10, in_channels=1,
    ...                   neuron_kwargs={"surrogate": "as"})
    >>> net.config["name"], net.config["timesteps"], net.config["neuron_kwargs"]
    ('fmnist-cnn', 4, {'surrogate': 'as'})
    >>> type(model_from_config(net.config)) is type(net)
    True

**Argument checks** shared by the builders (``positive_int``, ``probability``); each raises
``ValueError`` naming the argument.

Example:
    >>> from stablespike.models.registry import positive_int
    >>> positive_int("timesteps", 4)
    4

**Weight initialisation** (``init_weights``), shared by every registered model.

Convolutions: Kaiming normal (fan-out, ReLU gain), as in torchvision's ResNets. BatchNorm:
weight 1, bias 0. Linear layers: Kaiming normal (fan-in) weights and zero bias, so a hidden FC
layer feeding a LIF gets inputs of a similar scale to a conv + BN layer.

Example:
    >>> from torch import nn
    >>> from stablespike.models.registry import init_weights
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4))
    >>> init_weights(net)
    >>> net[1].weight.mean().item(), net[1].bias.abs().sum().item()
    (1.0, 0.0)
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from ..core.registry import Registry
from ..neurons import TrLIF
from .factory import NeuronFactory, NeuronSpec, neuron_from_name, neuron_name

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

STANDARD_ARGS: tuple[str, ...] = ("num_classes", "in_channels", "timesteps", "neuron", "dropout")
"""Keyword arguments every builder receives from :func:`build_model`."""

CONFIG_KEYS: tuple[str, ...] = (
    "name",
    "num_classes",
    "in_channels",
    "timesteps",
    "neuron_kwargs",
    "dropout",
    "options",
)
"""Keys of ``model.config`` (plus ``"neuron"`` when built with a neuron other than ``TrLIF``)."""


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    default_dropout: float


_MODELS: Registry[_Entry] = Registry("model", separator="-")


def register_model(name: str, *, default_dropout: float = 0.0) -> Callable[[B], B]:
    """Decorator registering a builder (function or class) under ``name`` for ``--model``.

    ``default_dropout`` is the dropout ``p`` used when :func:`build_model` gets ``dropout=None``.
    """
    probability("default_dropout", default_dropout)

    def decorator(builder: B) -> B:
        _MODELS.add(name, _Entry(builder, float(default_dropout)))
        return builder

    return decorator


def available_models() -> tuple[str, ...]:
    """The registered model names, sorted."""
    return _MODELS.names()


def model_options(name: str) -> tuple[str, ...] | None:
    """The builder options model ``name`` accepts besides the standard ones (None: any).

    Raises :class:`~stablespike.core.errors.ConfigError` for an unknown name, so a caller can
    check a configuration before building anything.

    Example:
        >>> "input_size" in model_options("fmnist-cnn")
        True
    """
    params = inspect.signature(_lookup(name).builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return tuple(n for n in params if n not in STANDARD_ARGS)


def default_dropout(name: str) -> float:
    """The dropout ``p`` model ``name`` uses when built with ``dropout=None``."""
    return _lookup(name).default_dropout


def build_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    timesteps: int = 4,
    neuron: NeuronSpec = TrLIF,
    neuron_kwargs: dict[str, Any] | None = None,
    dropout: float | None = None,
    **options: Any,
) -> nn.Module:
    """Build the registered model ``name`` with freshly initialised weights and ``.config``.

    ``neuron`` makes every spiking layer (see :class:`~stablespike.models.factory.NeuronFactory`):
    ``TrLIF`` (default), another ``nn.Module`` class, or a callable ``(channels) -> nn.Module``
    taking time-major ``[T, B, ...]``; ``neuron_kwargs`` go to each of them. ``dropout=None``
    picks the model's default; ``options`` are the builder's own keyword arguments.

    Example:
        >>> from torch import nn
        >>> net = build_model("fmnist-cnn", num_classes=10, in_channels=1,
        ...                   neuron=lambda channels: nn.ReLU())
        >>> net.config["neuron"].endswith("<lambda>")
        True
    """
    entry = _lookup(name)
    positive_int("num_classes", num_classes)
    positive_int("in_channels", in_channels)
    positive_int("timesteps", timesteps)
    p = entry.default_dropout if dropout is None else probability("dropout", dropout)
    _check_options(name, options)
    factory = NeuronFactory(neuron_kwargs, neuron)
    model = entry.builder(
        num_classes=num_classes,
        in_channels=in_channels,
        timesteps=timesteps,
        neuron=factory,
        dropout=p,
        **options,
    )
    init_weights(model)
    config: dict[str, Any] = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "timesteps": timesteps,
        "neuron_kwargs": dict(factory.kwargs),
        "dropout": p,
        "options": copy.deepcopy(options),
    }
    if neuron is not TrLIF:
        config["neuron"] = neuron_name(neuron)
    model.config = config  # type: ignore[assignment]  # torch stubs: tensors/modules only
    return model


def model_from_config(config: Mapping[str, Any], *, neuron: NeuronSpec | None = None) -> nn.Module:
    """Rebuild a model (fresh weights) from a ``model.config`` dict, e.g. one in a checkpoint.

    ``neuron`` overrides the neuron recorded in the config (needed when it was a lambda).
    """
    missing = [k for k in CONFIG_KEYS if k != "options" and k not in config]
    if missing:
        raise ValueError(f"model config lacks {', '.join(missing)}; got keys {sorted(config)}")
    kwargs = {k: config[k] for k in CONFIG_KEYS if k not in ("name", "options")}
    if neuron is None:
        neuron = neuron_from_name(config["neuron"]) if "neuron" in config else TrLIF
    return build_model(config["name"], neuron=neuron, **kwargs, **dict(config.get("options") or {}))


# ---------------------------------------------------------------- validation
def _lookup(name: str) -> _Entry:
    return _MODELS.get(name)


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    accepted = model_options(name)
    if accepted is None:
        return
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = ", ".join(accepted) if accepted else "none"
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for model {name!r}; accepted options: {listed}"
        )


def positive_int(what: str, value: Any) -> int:
    """Return ``value`` if it is an ``int >= 1`` (not a bool), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def probability(what: str, value: Any) -> float:
    """Return ``value`` as a float if it lies in ``[0, 1)``, else raise ``ValueError``."""
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    if not ok or math.isnan(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1), got {value!r}")
    return float(value)


def init_weights(model: nn.Module) -> None:
    """Initialise every conv, BN and linear layer of ``model`` in place."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
