"""Building the spiking layers of a model: :class:`NeuronFactory` and its ``neuron(channels)`` call.

Every spiking layer of a model is made by one :class:`NeuronFactory`, so the options chosen on the
command line (``--surrogate``, ``--no-mp-init``, ``--learn``) reach every layer alike. The factory
makes ``TrLIF`` by default; ``neuron=`` swaps in any other neuron (SpikingJelly's
``spiking_neuron`` pattern):

* ``TrLIF`` (the default): ``TrLIF(**neuron_kwargs)``, plus ``channels=`` with ``per_channel``;
* any ``nn.Module`` class: ``neuron(**neuron_kwargs)`` (e.g. SpikingJelly's ``LIFNode`` with
  ``step_mode="m"``);
* any other callable: ``neuron(channels, **neuron_kwargs)``.

Whatever it makes must map a time-major ``[T, B, C, ...]`` tensor to spikes of the same shape in
one call (a multi-step neuron); a class that keeps state across calls must reset itself, or the
user resets it between batches.

Example:
    >>> from stablespike.models import NeuronFactory
    >>> make = NeuronFactory({"surrogate": "as", "per_channel": True})
    >>> lif = make(64)                        # each layer passes its own channel count
    >>> lif.surrogate, lif.channels
    ('as', 64)
    >>> from torch import nn
    >>> NeuronFactory(neuron=lambda channels: nn.ReLU())(8)
    ReLU()
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from ..neurons import TrLIF

_TRLIF_OPTIONS = tuple(p for p in inspect.signature(TrLIF.__init__).parameters if p != "self")

NeuronSpec = type[nn.Module] | Callable[..., nn.Module]
"""What ``neuron=`` accepts: ``TrLIF``, another ``nn.Module`` class, or ``f(channels, **kw)``."""


def neuron_name(neuron: NeuronSpec) -> str:
    """``"module:qualname"`` of a class or function (how ``model.config`` records it).

    Example:
        >>> from stablespike import TrLIF
        >>> neuron_name(TrLIF)
        'stablespike.neurons:TrLIF'
    """
    module = getattr(neuron, "__module__", None) or type(neuron).__module__
    qualname = getattr(neuron, "__qualname__", None) or type(neuron).__qualname__
    return f"{module}:{qualname}"


def neuron_from_name(name: str) -> NeuronSpec:
    """Import the class or function that :func:`neuron_name` named; ``ValueError`` if it can't."""
    module, _, qualname = name.partition(":")
    if not qualname or "<" in qualname:
        raise ValueError(
            f"the model was built with neuron {name!r}, which cannot be imported by name "
            "(a lambda or a local function); rebuild it with model_from_config(config, neuron=...)"
        )
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"cannot import the model's neuron {name!r} ({err}); install its package or pass "
            "model_from_config(config, neuron=...)"
        ) from None
    return obj


def _is_trlif(neuron: object) -> bool:
    return isinstance(neuron, type) and issubclass(neuron, TrLIF)


class NeuronFactory:
    """Makes the spiking layer for a layer with a given channel count (see the module doc).

    For ``TrLIF``, ``channels`` is set per layer (only when ``per_channel=True``), so it must not be
    part of ``neuron_kwargs``; unknown option names raise ``ValueError`` listing the valid ones. For
    a class, ``neuron_kwargs`` are checked against its ``__init__`` signature.
    """

    def __init__(
        self, neuron_kwargs: Mapping[str, Any] | None = None, neuron: NeuronSpec = TrLIF
    ) -> None:
        if neuron_kwargs is None:
            neuron_kwargs = {}
        if not isinstance(neuron_kwargs, Mapping):
            raise TypeError(
                f"neuron_kwargs must be a dict of neuron options, got {type(neuron_kwargs).__name__}"
            )
        if not callable(neuron):
            raise TypeError(
                "neuron must be TrLIF, an nn.Module class or a callable (channels) -> nn.Module, "
                f"got {neuron!r}"
            )
        self.neuron = neuron
        self.kwargs: dict[str, Any] = dict(neuron_kwargs)
        self.per_channel = bool(self.kwargs.get("per_channel", False))
        if _is_trlif(neuron):
            self._check_trlif_kwargs()
        elif isinstance(neuron, type):
            if not issubclass(neuron, nn.Module):
                raise TypeError(f"neuron class {neuron.__name__} is not an nn.Module")
            self._check_signature(neuron.__init__, skip=1)

    @property
    def is_trlif(self) -> bool:
        """Whether the layers are ``TrLIF`` (then ``model.config`` rebuilds them exactly)."""
        return _is_trlif(self.neuron)

    def _check_trlif_kwargs(self) -> None:
        unknown = sorted(set(self.kwargs) - set(_TRLIF_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown TrLIF option(s) {', '.join(unknown)} in neuron_kwargs; "
                f"expected some of {', '.join(_TRLIF_OPTIONS)}"
            )
        if "channels" in self.kwargs:
            raise ValueError(
                "neuron_kwargs must not set 'channels': each layer passes its own channel count "
                "when per_channel=True"
            )

    def _check_signature(self, fn: Callable[..., Any], skip: int) -> None:
        try:
            params = list(inspect.signature(fn).parameters.values())[skip:]
        except (TypeError, ValueError):  # builtins without a signature: nothing to check
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return
        accepted = [p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        unknown = sorted(set(self.kwargs) - set(accepted))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} in neuron_kwargs for "
                f"{neuron_name(self.neuron)}; it accepts {', '.join(accepted) or 'none'}"
            )

    def __call__(self, channels: int) -> nn.Module:
        """A new spiking layer for a layer whose input has ``channels`` channels (dim 2)."""
        if self.is_trlif:
            if self.per_channel:
                return self.neuron(**self.kwargs, channels=channels)
            return self.neuron(**self.kwargs)
        if isinstance(self.neuron, type):
            layer = self.neuron(**self.kwargs)
        else:
            layer = self.neuron(channels, **self.kwargs)
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"neuron {neuron_name(self.neuron)} returned {type(layer).__name__} for "
                f"channels={channels}; it must return an nn.Module taking [T, B, ...] input"
            )
        return layer

    def __repr__(self) -> str:
        if self.is_trlif:
            return f"NeuronFactory({self.kwargs!r})"
        return f"NeuronFactory({self.kwargs!r}, neuron={neuron_name(self.neuron)})"
