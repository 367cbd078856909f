"""torch.export of the folded model: the exported program computes what the folded model does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stablespike import TrLIF
from stablespike.deploy import export_folded, fold_thresholds
from stablespike.models import build_model


@pytest.mark.parametrize("dynamic", [False, True], ids=["model_backend", "dynamic_batch"])
def test_exported_program_matches_the_folded_model(tmp_path: Path, dynamic: bool) -> None:
    torch.manual_seed(0)
    model = build_model(
        "fmnist-cnn", num_classes=10, in_channels=1, timesteps=3,
        neuron_kwargs={"init_threshold": 0.4},
    )  # fmt: skip
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.randn(8, 1, 28, 28))
    model.eval()
    x = torch.randn(4, 1, 28, 28)
    program = export_folded(model, x, dynamic_batch=dynamic)
    folded = fold_thresholds(model, x)
    torch.export.save(program, tmp_path / "model.pt2")
    loaded = torch.export.load(tmp_path / "model.pt2").module()
    assert not any(isinstance(m, TrLIF) for m in loaded.modules())
    for batch in (4, 1, 7) if dynamic else (4,):
        xb = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            want = folded(xb)
            got = loaded(xb)
        assert got.shape == (3, batch, 10)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(got, model(xb), rtol=1e-5, atol=1e-5)
