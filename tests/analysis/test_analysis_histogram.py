"""TV distance and streaming histograms on cases with a known answer."""

import pytest
import torch

from stablespike.analysis.histogram import (
    StreamingHistogram,
    bin_counts,
    edges_from_sample,
    tv_distance,
)


def test_tv_identical_is_zero_and_disjoint_is_one() -> None:
    p = torch.tensor([0.2, 0.3, 0.5, 0.0])
    assert float(tv_distance(p, p)) == 0.0
    assert (
        float(tv_distance(torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0, 0, 0.5, 0.5])))
        == 1.0
    )


def test_tv_partial_overlap() -> None:
    p = torch.tensor([0.5, 0.5, 0.0])
    q = torch.tensor([0.0, 0.5, 0.5])
    assert float(tv_distance(p, q)) == pytest.approx(0.5)


def test_tv_rejects_different_bins() -> None:
    with pytest.raises(ValueError, match="share bins"):
        tv_distance(torch.ones(3) / 3, torch.ones(4) / 4)


def test_bin_counts_clamps_out_of_range_and_drops_nonfinite() -> None:
    edges = torch.tensor([0.0, 1.0, 2.0])
    counts = bin_counts(torch.tensor([-5.0, 0.5, 1.0, 1.5, 9.0, float("nan")]), edges)
    assert counts.tolist() == [2.0, 3.0]


def test_streaming_histogram_tv_to_last_row() -> None:
    hist = StreamingHistogram(torch.linspace(0.0, 4.0, 5), rows=3)
    hist.add(0, torch.tensor([0.5, 0.5]))  # bin 0
    hist.add(1, torch.tensor([0.5, 3.5]))  # half bin 0, half bin 3
    hist.add(2, torch.tensor([3.5]))  # bin 3
    hist.add(2, torch.tensor([3.2]))  # streaming: a second batch
    assert hist.tv_to_row().tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert hist.probabilities().sum(1).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_edges_from_sample_spans_data_and_handles_constants() -> None:
    edges = edges_from_sample(torch.linspace(-1.0, 3.0, 1001), bins=10)
    assert edges.numel() == 11
    assert float(edges[0]) < -0.99 and float(edges[-1]) > 2.99
    const = edges_from_sample(torch.full((10,), 2.0), bins=4)
    assert float(const[0]) < 2.0 < float(const[-1])


@pytest.mark.parametrize(
    "edges", [torch.tensor([1.0]), torch.tensor([0.0, 0.0, 1.0]), torch.ones(2, 2)]
)
def test_bad_edges_are_rejected(edges: torch.Tensor) -> None:
    with pytest.raises(ValueError):
        StreamingHistogram(edges, rows=1)
