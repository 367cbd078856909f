"""Building the ``TrLIF`` layers of a model from one dict of neuron options.

Every spiking layer of a model is made by a :class:`NeuronFactory`, so the options chosen on the
command line (``--surrogate``, ``--no-mp-init``, ``--learn``) reach every ``TrLIF`` alike.

Example:
    >>> from stablespike.models import NeuronFactory
    >>> make = NeuronFactory({"surrogate": "as", "per_channel": True})
    >>> lif = make(64)                        # each layer passes its own channel count
    >>> lif.surrogate, lif.channels
    ('as', 64)
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..neurons import TrLIF

_TRLIF_OPTIONS = tuple(p for p in inspect.signature(TrLIF.__init__).parameters if p != "self")


class NeuronFactory:
    """Makes ``TrLIF(**neuron_kwargs)`` for a layer with a given channel count.

    ``channels`` is set per layer (only when ``per_channel=True``), so it must not be part of
    ``neuron_kwargs``. Unknown option names raise ``ValueError`` listing the valid ones.
    """

    def __init__(self, neuron_kwargs: Mapping[str, Any] | None = None) -> None:
        if neuron_kwargs is None:
            neuron_kwargs = {}
        if not isinstance(neuron_kwargs, Mapping):
            raise TypeError(
                f"neuron_kwargs must be a dict of TrLIF options, got {type(neuron_kwargs).__name__}"
            )
        unknown = sorted(set(neuron_kwargs) - set(_TRLIF_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown TrLIF option(s) {', '.join(unknown)} in neuron_kwargs; "
                f"expected some of {', '.join(_TRLIF_OPTIONS)}"
            )
        if "channels" in neuron_kwargs:
            raise ValueError(
                "neuron_kwargs must not set 'channels': each layer passes its own channel count "
                "when per_channel=True"
            )
        self.kwargs: dict[str, Any] = dict(neuron_kwargs)
        self.per_channel = bool(self.kwargs.get("per_channel", False))

    def __call__(self, channels: int) -> TrLIF:
        """A new ``TrLIF`` for a layer whose input has ``channels`` channels (dim 2)."""
        if self.per_channel:
            return TrLIF(**self.kwargs, channels=channels)
        return TrLIF(**self.kwargs)

    def __repr__(self) -> str:
        return f"NeuronFactory({self.kwargs!r})"
