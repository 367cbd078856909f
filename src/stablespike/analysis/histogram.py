"""Histograms on shared bins and the total-variation distance between them (docs/METHOD.md §6).

Two distributions are compared on the same bin edges ``e_0 < ... < e_n``. With bin probabilities
``p_i`` and ``q_i`` (each summing to 1) the total-variation distance is::

    TV(p, q) = 1/2 * sum_i |p_i - q_i|        in [0, 1]

0 for identical histograms, 1 for histograms with disjoint support. Values outside the edges are
clamped into the first or last bin, so no mass is lost when a later batch is wider than the one
that fixed the edges.

Example:
    >>> import torch
    >>> from stablespike.analysis.histogram import StreamingHistogram, tv_distance
    >>> hist = StreamingHistogram(torch.linspace(0.0, 1.0, 5), rows=2)   # 4 bins, 2 rows
    >>> hist.add(0, torch.tensor([0.1, 0.1]))
    >>> hist.add(1, torch.tensor([0.9, 0.9]))
    >>> p = hist.probabilities()
    >>> float(tv_distance(p[0], p[1]))
    1.0
"""

from __future__ import annotations

import torch


def tv_distance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``1/2 * sum |p - q|`` over the last dimension of two probability vectors on shared bins.

    Raises ``ValueError`` when the shapes differ.
    """
    if p.shape != q.shape:
        raise ValueError(f"histograms must share bins: shapes {tuple(p.shape)} vs {tuple(q.shape)}")
    return 0.5 * (p - q).abs().sum(-1)


def edges_from_sample(values: torch.Tensor, bins: int = 100, pad: float = 0.05) -> torch.Tensor:
    """``bins + 1`` equal-width edges spanning ``values`` (its 0.1 % to 99.9 % quantiles).

    The span is widened by ``pad`` of its width on each side; a constant sample gets a unit span.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    v = values.detach().flatten().to(torch.float64)
    v = v[torch.isfinite(v)]
    if v.numel() == 0:
        lo, hi = -1.0, 1.0
    else:
        if v.numel() > 1_000_000:  # torch.quantile's input limit; a strided subsample suffices
            v = v[:: v.numel() // 1_000_000 + 1]
        lo, hi = (float(x) for x in torch.quantile(v, torch.tensor([0.001, 0.999], dtype=v.dtype)))
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
    width = hi - lo
    return torch.linspace(lo - pad * width, hi + pad * width, bins + 1, dtype=torch.float64)


def bin_counts(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Counts of ``values`` per bin of ``edges`` (float64); out-of-range values go to the end bins.

    Non-finite values are dropped.
    """
    v = values.detach().flatten().to(torch.float64)
    v = v[torch.isfinite(v)]
    e = edges.to(v.device, torch.float64)
    idx = torch.bucketize(v, e[1:-1], right=True)  # bin i holds e_i <= v < e_{i+1}
    return torch.bincount(idx, minlength=e.numel() - 1).to(torch.float64).cpu()


class StreamingHistogram:
    """Rows of histograms on one set of edges, filled batch by batch (e.g. one row per timestep)."""

    def __init__(self, edges: torch.Tensor, rows: int) -> None:
        if edges.dim() != 1 or edges.numel() < 2:
            raise ValueError(f"edges must be a 1-d tensor of >= 2 values, got {tuple(edges.shape)}")
        if not bool((edges[1:] > edges[:-1]).all()):
            raise ValueError("edges must be strictly increasing")
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        self.edges = edges.detach().to(torch.float64).cpu()
        self.counts = torch.zeros(rows, edges.numel() - 1, dtype=torch.float64)

    def add(self, row: int, values: torch.Tensor) -> None:
        """Add ``values`` to histogram ``row``."""
        self.counts[row] += bin_counts(values, self.edges)

    def probabilities(self) -> torch.Tensor:
        """Counts normalised per row to sum to 1 (a row without data stays all zero)."""
        total = self.counts.sum(-1, keepdim=True)
        return self.counts / total.clamp_min(1.0)

    def tv_to_row(self, ref: int = -1) -> torch.Tensor:
        """TV distance of every row to row ``ref`` (default: the last one, i.e. the last step)."""
        p = self.probabilities()
        return tv_distance(p, p[ref].expand_as(p))
