"""``NeuronMonitor``: per-layer, per-timestep statistics of every TrLIF in a model.

Attached to a model, the monitor sees each spiking layer's pre-spike potentials ``H[t]`` and
outputs ``O[t]`` after every forward pass and, when the pass is differentiated, ``dL/dH[t]``.
Per layer ``l`` and step ``t = 1..T`` it keeps:

* the firing rate ``rho_l[t] = #{O[t] != 0} / #neurons`` (over neurons and samples);
* a histogram of ``H[t]`` on edges shared by all steps of the layer (fixed by the first batch,
  see :func:`~stablespike.analysis.histogram.edges_from_sample`) and the total-variation distance
  ``TV(p_t, p_T) = 1/2 sum_i |p_t,i - p_T,i|`` of each step's histogram to the last step's;
* AbsStr, RatioAG and GradCV of ``dL/dH`` (:mod:`~stablespike.analysis.gradients`), over all
  steps and per step.

While attached, each TrLIF runs its readable reference recurrence (same numbers, slower).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.analysis import NeuronMonitor
    >>> model = nn.Sequential(nn.Linear(3, 8), TrLIF()).eval()
    >>> with NeuronMonitor(model) as mon:
    ...     model(torch.randn(4, 2, 3)).sum().backward()     # [T, B, features]
    >>> layer = mon.summary()["1"]
    >>> len(layer["firing_rate"]), layer["tv_to_last"][-1]
    (4, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import torch
from torch import nn

from ..functional.lif import LIFSequence
from ..models.introspect import FiringRates, spiking_layers
from ..neurons import TrLIF
from .gradients import GradStats
from .histogram import StreamingHistogram, edges_from_sample


class LayerRecord:
    """What the monitor accumulates for one spiking layer over ``T`` timesteps."""

    def __init__(self, timesteps: int, edges: torch.Tensor) -> None:
        self.timesteps = timesteps
        self.hist = StreamingHistogram(edges, rows=timesteps)
        self.grad = GradStats()
        self.grad_per_step = [GradStats() for _ in range(timesteps)]

    def observe(self, h: torch.Tensor) -> None:
        """Add one sequence's ``H`` (``[T, ...]``; its spikes are counted by the monitor's
        :class:`~stablespike.models.introspect.FiringRates`)."""
        if h.shape[0] != self.timesteps:
            raise ValueError(
                f"the monitor was filled with T = {self.timesteps} steps, got T = {h.shape[0]}"
            )
        h = h.detach()
        for t in range(self.timesteps):
            self.hist.add(t, h[t])

    def observe_grad(self, grad: torch.Tensor) -> None:
        """Add ``dL/dH`` (``[T, ...]``)."""
        for t in range(self.timesteps):
            self.observe_step_grad(t, grad[t])

    def observe_step_grad(self, t: int, grad: torch.Tensor) -> None:
        """Add ``dL/dH[t]`` of one step (0-based ``t``)."""
        self.grad.add(grad)
        self.grad_per_step[t].add(grad)

    def summary(self, rates: FiringRates, name: str) -> dict[str, Any]:
        """Firing rates (of layer ``name`` in ``rates``), histograms, TV distances and gradient
        metrics as plain Python values."""
        out: dict[str, Any] = {
            "timesteps": self.timesteps,
            "firing_rate": rates.rates_per_step(name),
            "mean_firing_rate": rates.mean_rate(name),
            "tv_to_last": self.hist.tv_to_row(-1).tolist(),
            "hist_edges": self.hist.edges.tolist(),
            "hist_probs": self.hist.probabilities().tolist(),
        }
        if self.grad.count:
            out["grad"] = self.grad.summary()
            out["grad_per_step"] = [g.summary() for g in self.grad_per_step]
        return out


class NeuronMonitor:
    """Records firing, membrane-potential histograms and ``dL/dH`` of every TrLIF in ``model``.

    Args:
        model: any module containing :class:`~stablespike.TrLIF` layers.
        bins: histogram bins per layer.
        edges: fixed histogram edges for every layer (default: from each layer's first batch).
        record_grads: hook ``dL/dH`` in differentiated passes (see :meth:`grads_paused`).

    Use as a context manager, or call :meth:`attach` / :meth:`detach`.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        bins: int = 100,
        edges: torch.Tensor | None = None,
        record_grads: bool = True,
    ) -> None:
        self.layers = spiking_layers(model, required=True)
        self.rates = FiringRates(self.layers, per_step=True)
        self.bins = bins
        self.edges = edges
        self.record_grads = record_grads
        self.records: dict[str, LayerRecord] = {}
        self._removers: list[Callable[[], None]] = []

    # ---------------------------------------------------------------- attach
    def attach(self) -> Self:
        """Start observing (idempotent)."""
        if not self._removers:
            self._removers = [lif.add_monitor(self._callback(name)) for name, lif in self.layers]
            self._removers.append(self.rates.attach().detach)
        return self

    def detach(self) -> None:
        """Stop observing; the records are kept."""
        for remove in self._removers:
            remove()
        self._removers = []

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    @contextmanager
    def grads_paused(self) -> Iterator[Self]:
        """Within the block ``dL/dH`` is not recorded (e.g. for partial backward passes)."""
        saved, self.record_grads = self.record_grads, False
        try:
            yield self
        finally:
            self.record_grads = saved

    def _callback(self, name: str) -> Callable[[TrLIF, torch.Tensor, LIFSequence], None]:
        def observe(lif: TrLIF, x: torch.Tensor, res: LIFSequence) -> None:
            if res.h is None:
                raise RuntimeError("TrLIF monitor result carries no pre-spike potentials h")
            record = self.records.get(name)
            if record is None:
                edges = (
                    self.edges if self.edges is not None else edges_from_sample(res.h, self.bins)
                )
                record = self.records[name] = LayerRecord(res.h.shape[0], edges)
            record.observe(res.h)
            if res.h.requires_grad:
                self._hook_grads(record, res.h)

        return observe

    def _hook_grads(self, record: LayerRecord, h: torch.Tensor) -> None:
        """Record ``dL/dH[t]`` when a backward pass reaches the per-step potentials.

        The reference recurrence returns ``h = stack(H[1..T])`` as a side branch: the network
        uses the per-step tensors, so a hook on ``h`` itself would never fire. The hooks go on the
        autograd nodes that produced each ``H[t]`` (the inputs of the stack) instead.
        """
        node = h.grad_fn
        if node is None or type(node).__name__ != "StackBackward0":
            h.register_hook(lambda g: self._on_grad(record, g))
            return
        steps = node.next_functions
        if len(steps) != record.timesteps:
            raise RuntimeError(f"expected {record.timesteps} per-step nodes, got {len(steps)}")
        shape = h.shape[1:]
        for t, (step_node, index) in enumerate(steps):
            if step_node is None:
                continue

            def prehook(grads: tuple[torch.Tensor | None, ...], t: int = t, i: int = index) -> None:
                g = grads[i]
                if self.record_grads:
                    record.observe_step_grad(t, g if g is not None else torch.zeros(shape))

            step_node.register_prehook(prehook)

    def _on_grad(self, record: LayerRecord, grad: torch.Tensor) -> None:
        if self.record_grads:
            record.observe_grad(grad)

    # ---------------------------------------------------------------- results
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per layer name (in model order): :meth:`LayerRecord.summary`.

        Raises ``RuntimeError`` when no forward pass was observed.
        """
        if not self.records:
            raise RuntimeError("the monitor observed no forward pass; attach it before running")
        return {
            name: self.records[name].summary(self.rates, name)
            for name, _ in self.layers
            if name in self.records
        }
