"""``stablespike bench`` and its measuring tools run end to end (tiny sizes, no timing claims)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stablespike import TrLIF
from stablespike.bench.impls import Unavailable, make_layer
from stablespike.bench.runs import resnet19_with
from stablespike.bench.tools import copy_bandwidth, median_times, peak_bytes, saved_bytes
from stablespike.cli import main


def test_tools_measure_what_they_claim() -> None:
    x = torch.randn(256, 256, requires_grad=True)
    assert saved_bytes(lambda: (x * x).sum()) == x.numel() * 4
    assert peak_bytes(lambda: torch.ones(1024, 1024) * 2) >= 2 * 1024 * 1024 * 4
    assert copy_bandwidth(1 << 20) > 0
    (t,) = median_times([lambda: x.sum()], repeats=3)
    assert t > 0
    with pytest.raises(ValueError, match="repeats"):
        median_times([lambda: None], repeats=0)


def test_layers_and_swapping() -> None:
    x = torch.randn(3, 2, 4, 5, 5)
    for name in ("fused", "reference"):
        assert make_layer(name)(x).shape == x.shape
    assert isinstance(make_layer("none"), torch.nn.Identity)
    with pytest.raises(ValueError, match="unknown implementation"):
        make_layer("nope")
    for name in ("spikingjelly", "none"):  # the zoo builds its layers with the neuron asked for
        try:
            net = resnet19_with(name, "cpu", timesteps=1)
        except Unavailable as err:
            assert "not installed" in str(err)
        else:
            assert not any(isinstance(m, TrLIF) for m in net.modules())
            assert net(torch.randn(1, 3, 32, 32)).shape == (1, 1, 10)


def test_bench_prints_tables_and_writes_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.jsonl"
    argv = ["--what", "layer", "--what", "kernel", "--what", "network", "--shape", "2,2,4,6,6",
            "--impl", "fused", "--impl", "reference", "--repeats", "1", "--net-repeats", "1",
            "--batch", "1", "--timesteps", "1", "--malloc", "default", "--json", str(out)]  # fmt: skip
    assert main(["bench", *argv]) == 0
    text = capsys.readouterr().out
    assert "fused ops alone" in text and "ResNet-19 training step" in text
    result = json.loads(out.read_text().splitlines()[-1])
    impls = [r["impl"] for r in result["layer"][0]["rows"]]
    assert impls == ["fused", "reference"]
    # the last row is the step without neurons, the bound of every speed-up
    assert [r["impl"] for r in result["network"]] == ["fused", "reference", "none"]
    assert "(no neuron)" in text
