"""Looking into a spiking model: its spiking layers, their learned values, their firing rates.

One home for what the trainer, ``eval``, ``analyze`` and the deployment tools read off a model:

* :func:`spiking_layers`: ``(qualified name, TrLIF)`` of every spiking layer, in forward order;
* :func:`layer_values` / :func:`neuron_values` / :func:`neuron_parameters`: the learned values
  of each layer as plain floats (lists when per channel): ``tau = 1 / sigmoid(a)``,
  ``Vthr = softplus(b)`` and the MP-Init running mean ``r`` (the initial potential ``U[0]``);
* :class:`FiringRates`: the firing-rate meter, ``rho_l = #{O != 0} / #outputs`` per layer (and
  per timestep with ``per_step=True``), counted by forward hooks while attached. Its counts are
  sums, exposed as one tensor (:attr:`FiringRates.sums`) so that a caller running several
  processes can add them up across processes (the trainer does) and put them back.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.models.introspect import FiringRates, neuron_parameters, spiking_layers
    >>> model = nn.Sequential(nn.Linear(4, 4), TrLIF())
    >>> [name for name, _ in spiking_layers(model)]
    ['1']
    >>> neuron_parameters(model)[0]
    {'layer': '1', 'tau': 2.0, 'threshold': 1.0, 'mp_mean': 0.0}
    >>> with FiringRates(spiking_layers(model)) as rates:
    ...     _ = model(torch.full((2, 1, 4), 3.0))        # [T, B, features]
    >>> sorted(rates.rates())
    ['1']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import torch
from torch import nn

from ..neurons import TrLIF

__all__ = [
    "FiringRates",
    "HookedObserver",
    "as_value",
    "layer_values",
    "neuron_parameters",
    "neuron_values",
    "spiking_layers",
]


def spiking_layers(model: nn.Module, *, required: bool = False) -> list[tuple[str, TrLIF]]:
    """``(qualified name, TrLIF)`` for every spiking layer, in forward order.

    Every registered model registers its submodules in the order its forward calls them, so
    module order is forward order (the tests check this for each model). ``required=True``
    raises ``ValueError`` when the model has no spiking layer.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, TrLIF)]
    if required and not layers:
        raise ValueError(f"{type(model).__name__} contains no TrLIF layer to analyse")
    return layers


def as_value(t: torch.Tensor) -> float | list[float]:
    """A learned value as plain Python: a float for a scalar, a list of floats per channel."""
    t = t.detach().cpu().to(torch.float64)
    return float(t) if t.dim() == 0 else [float(v) for v in t.flatten()]


def layer_values(lif: Any) -> dict[str, float | list[float]]:
    """``{"tau", "threshold", "mp_mean"}`` of one spiking layer (see the module docs).

    ``lif``: a :class:`~stablespike.TrLIF`, or any layer with ``tau``, ``threshold`` and
    ``mp_mean`` tensors.
    """
    return {
        "tau": as_value(lif.tau),
        "threshold": as_value(lif.threshold),
        "mp_mean": as_value(lif.mp_mean),
    }


def neuron_values(layers: Sequence[tuple[str, nn.Module]]) -> dict[str, dict[str, Any]]:
    """``{layer: {"tau", "threshold", "mp_mean", "mp_init"}}`` (floats, or lists when per channel).

    ``layers``: ``(name, layer)`` pairs, e.g. :func:`spiking_layers` of a model.
    """
    return {
        name: {**layer_values(lif), "mp_init": bool(getattr(lif, "mp_enabled", False))}
        for name, lif in layers
    }


def neuron_parameters(model: nn.Module) -> list[dict[str, object]]:
    """One row per spiking layer: ``layer``, ``tau``, ``threshold``, ``mp_mean``.

    Raises ``ValueError`` when the model has no spiking layer.
    """
    return [
        {"layer": name, **layer_values(lif)} for name, lif in spiking_layers(model, required=True)
    ]


class HookedObserver:
    """Something that watches a model through hooks: :meth:`attach` / :meth:`detach`, ``with``.

    A subclass implements :meth:`_register` (install its hooks, return their handles).
    """

    _handles: list[Any]

    def _register(self) -> list[Any]:
        raise NotImplementedError

    def attach(self) -> Self:
        """Start observing (idempotent)."""
        if not getattr(self, "_handles", None):
            self._handles = self._register()
        return self

    def detach(self) -> None:
        """Stop observing; what was recorded is kept."""
        for h in getattr(self, "_handles", ()):
            h.remove()
        self._handles = []

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()


class FiringRates(HookedObserver):
    """Fraction of (neuron, timestep) pairs that spiked, per spiking layer, while attached.

    ``spikes[l]`` and ``total[l]`` (float64) count the non-zero outputs and all outputs of layer
    ``l``. With ``per_step=True`` the meter also counts per timestep (dim 0 of the time-major
    outputs ``[T, ...]``; ``T`` must not change between calls of one layer).

    Use ``with meter:`` (or :meth:`attached`), or :meth:`attach` / :meth:`detach`.

    Example:
        >>> import torch
        >>> from stablespike import TrLIF
        >>> net = torch.nn.Sequential(TrLIF())
        >>> rates = FiringRates([("0", net[0])])
        >>> with rates.attached():
        ...     _ = net(torch.full((2, 1, 4), 3.0))       # always above threshold
        >>> rates.rates()
        {'0': 1.0}
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], *, per_step: bool = False) -> None:
        self.layers = list(layers)
        self.per_step = bool(per_step)
        self.spikes = torch.zeros(len(layers), dtype=torch.float64)
        self.total = torch.zeros(len(layers), dtype=torch.float64)
        self.step_spikes: list[torch.Tensor | None] = [None] * len(layers)
        self.step_total: list[torch.Tensor | None] = [None] * len(layers)
        self._handles: list[Any] = []

    def _register(self) -> list[Any]:
        return [
            module.register_forward_hook(self._hook(i)) for i, (_, module) in enumerate(self.layers)
        ]

    @contextmanager
    def attached(self) -> Iterator[Self]:
        """Count spikes of every forward pass inside the ``with`` block."""
        self.attach()
        try:
            yield self
        finally:
            self.detach()

    def _hook(self, index: int) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            fired = output.detach() != 0
            self.spikes[index] += float(fired.sum())
            self.total[index] += output.numel()
            if self.per_step:
                self._count_steps(index, fired)

        return hook

    def _count_steps(self, index: int, fired: torch.Tensor) -> None:
        steps = fired.shape[0]
        spikes = fired.reshape(steps, -1).sum(1).to("cpu", torch.float64)
        total = torch.full((steps,), float(fired[0].numel()), dtype=torch.float64)
        seen = self.step_spikes[index]
        if seen is None:
            self.step_spikes[index], self.step_total[index] = spikes, total
            return
        if seen.shape[0] != steps:
            raise ValueError(
                f"layer {self.layers[index][0]!r} was counted with T = {seen.shape[0]} steps, "
                f"got T = {steps}"
            )
        seen += spikes
        self.step_total[index] += total  # type: ignore[operator]

    # ---------------------------------------------------------------- sums
    @property
    def sums(self) -> torch.Tensor:
        """The counts as one float64 tensor ``[2 * layers]``: ``spikes`` then ``total``.

        Sum it across processes and give it back with :meth:`load_sums` to get the rates of all
        processes together (:func:`stablespike.train.metrics.all_reduce_rates` does).
        """
        return torch.cat([self.spikes, self.total])

    def load_sums(self, sums: torch.Tensor) -> None:
        """Replace ``spikes`` and ``total`` by those of ``sums`` (the layout of :attr:`sums`)."""
        if sums.shape != (2 * len(self.layers),):
            raise ValueError(
                f"sums must have shape ({2 * len(self.layers)},), got {tuple(sums.shape)}"
            )
        self.spikes, self.total = sums.detach().to("cpu", torch.float64).clone().chunk(2)

    def all_reduce(self, ctx: Any) -> None:
        """Deprecated: use :func:`stablespike.train.metrics.all_reduce_rates` ``(meter, ctx)``."""
        warnings.warn(
            "FiringRates.all_reduce(ctx) is deprecated; use "
            "stablespike.train.metrics.all_reduce_rates(rates, ctx)",
            DeprecationWarning,
            stacklevel=2,
        )
        if getattr(ctx, "distributed", False):
            import torch.distributed as dist

            packed = self.sums.to(ctx.device)
            dist.all_reduce(packed)
            self.load_sums(packed)

    # ---------------------------------------------------------------- results
    def rates(self) -> dict[str, float]:
        """``{layer name: firing rate}`` (NaN for a layer that never ran)."""
        return {
            name: float(s / t) if t else float("nan")
            for (name, _), s, t in zip(self.layers, self.spikes, self.total, strict=True)
        }

    def rates_per_step(self, name: str) -> list[float]:
        """Firing rate at each timestep ``t = 1..T`` of layer ``name`` (``per_step=True``).

        Empty for a layer that never ran.
        """
        index = self._index(name)
        spikes, total = self.step_spikes[index], self.step_total[index]
        if spikes is None or total is None:
            return []
        return (spikes / total.clamp_min(1.0)).tolist()

    def mean_rate(self, name: str) -> float:
        """Firing rate of layer ``name`` over all its outputs (0 for a layer that never ran)."""
        index = self._index(name)
        return float(self.spikes[index] / self.total[index].clamp_min(1.0))

    def _index(self, name: str) -> int:
        for i, (layer, _) in enumerate(self.layers):
            if layer == name:
                return i
        raise KeyError(f"no layer {name!r} in this meter")
