"""``stablespike analyze`` on a checkpoint of a tiny real training run."""

import json
from pathlib import Path

import numpy as np
import pytest

from stablespike.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from stablespike.train import TrainConfig, train

    root = tmp_path_factory.mktemp("analyze")
    rng = np.random.default_rng(0)
    x = rng.random((48, 1, 8, 8), dtype=np.float32)
    y = (x.mean((1, 2, 3)) > 0.5).astype(np.int64)
    np.savez(root / "tiny.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    cfg = TrainConfig(
        dataset=f"npz:{root / 'tiny.npz'}",
        epochs=1,
        batch_size=16,
        timesteps=2,
        threads=1,
        progress="off",
        tensorboard=False,
        run_dir=str(root / "run"),
    )
    train(cfg, log=lambda _: None)
    return root / "run"


def test_analyze_writes_report_json_and_plots(tiny_run: Path, capsys) -> None:
    code = main(["analyze", str(tiny_run / "best.pt"), "--batches", "1", "--batch-size", "8"])
    assert code == 0
    out = tiny_run / "analysis"
    result = json.loads((out / "analysis.json").read_text())
    assert result["timesteps"] == 2 and result["images"] == 8 and result["model"] == "fmnist-cnn"
    assert [lay["layer"] for lay in result["layers"]][0] == "stem_lif"
    kinds = {r["layer"]: r["kind"] for r in result["synops"]["layers"]}
    assert kinds["stem.conv"] == "mac"
    assert (out / "membrane_potential.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "accuracy after t steps" in printed and "energy" in printed


def test_analyze_options_and_errors(tiny_run: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "elsewhere"
    args = ["analyze", str(tiny_run / "best.pt"), "--batches", "1", "--batch-size", "4"]
    assert main([*args, "--grad-batches", "0", "--no-plots", "--out", str(target)]) == 0
    assert not list(target.glob("*.png")) and (target / "report.txt").exists()
    assert main(["analyze", str(tmp_path / "missing.pt")]) == 1
    assert main([*args, "--batches", "0"]) == 1
    assert "--batches must be >= 1" in capsys.readouterr().err


def test_analyze_a_run_folder_writes_into_it_and_json_where_asked(
    tiny_run: Path, tmp_path: Path
) -> None:
    doc = tmp_path / "result.json"
    args = ["analyze", str(tiny_run), "--batches", "1", "--batch-size", "4", "--no-plots"]
    assert main([*args, "--json", str(doc)]) == 0
    saved = json.loads((tiny_run / "analysis" / "analysis.json").read_text())
    assert json.loads(doc.read_text())["checkpoint"] == saved["checkpoint"]
    assert saved["checkpoint"] == str(tiny_run / "best.pt")
    assert not (tiny_run.parent / "analysis").exists()  # not beside the run folder
