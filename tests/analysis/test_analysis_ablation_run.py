"""Running a tiny ablation grid: resumable, divergence recorded, tables and CLI."""

import json
from pathlib import Path

import numpy as np
import pytest

from stablespike.analysis.ablation import runner
from stablespike.analysis.ablation.grid import Cell
from stablespike.analysis.ablation.settings import GridSettings
from stablespike.cli import main

SETTINGS = GridSettings(train_subset=32, test_subset=16, batch_size=16, timesteps=2)


def fake_subset(path: Path, *, train: int, test: int, seed: int, data_dir: str | None) -> Path:
    """A random 28x28 stand-in for the Fashion-MNIST subset (the tests need no dataset files)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((train + test, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, train + test)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x[:train], y_train=y[:train], x_test=x[train:], y_test=y[train:])
    return path


@pytest.fixture
def grid_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(runner, "write_fashion_mnist_subset", fake_subset)
    return tmp_path / "ablation"


def test_run_grid_is_resumable(grid_dir: Path) -> None:
    cells, logs = [Cell(), Cell("as", False)], []
    assert runner.run_grid(grid_dir, SETTINGS, cells, [0], log=logs.append) == 0
    result = runner.load_result(grid_dir.resolve(), cells[0], 0)
    assert result["status"] == "ok" and 0 <= result["accuracy"] <= 100
    assert len(result["layers"]) == 3 and result["grad_mean"]["ratio_ag"] is not None
    assert result["energy_uj"] > 0
    pinned = json.loads((grid_dir / "grid.json").read_text())["fingerprint"]
    assert result["fingerprint"] == pinned and "/" in pinned
    run = runner.cell_dir(grid_dir.resolve(), cells[0], 0)
    assert (run / "best.pt").exists() and not (run / "last.pt").exists()
    stamp = (run / "cell.json").stat().st_mtime_ns
    logs.clear()
    assert runner.run_grid(grid_dir, SETTINGS, cells, [0], log=logs.append) == 0
    assert logs == [f"ablation: 2 of 2 runs done, 0 to go -> {grid_dir.resolve()}"]
    assert (run / "cell.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="another size"):
        runner.run_grid(grid_dir, GridSettings(), cells, [0], log=logs.append)


def test_divergence_is_recorded(grid_dir: Path, monkeypatch) -> None:
    from stablespike.train import NonFiniteError, session

    def explode(cfg, log=print):
        raise NonFiniteError("loss is nan at step 3")

    monkeypatch.setattr(session, "train", explode)
    assert runner.run_grid(grid_dir, SETTINGS, [Cell("rs", True, "tau", 0.1)], [0], log=print) == 0
    result = runner.load_result(grid_dir.resolve(), Cell("rs", True, "tau", 0.1), 0)
    assert result["status"] == "diverged" and "nan" in result["error"]


def test_cli_dry_run_and_report(grid_dir: Path, capsys) -> None:
    assert main(["ablate", "--dry-run"]) == 0
    assert "36 cells x 2 seeds = 72 runs" in capsys.readouterr().out
    args = ["ablate", "--out", str(grid_dir), "--train-subset", "32", "--test-subset", "16"]
    args += ["--batch-size", "16", "--timesteps", "2", "--seeds", "0", "--groups", "components"]
    assert main(args) == 0
    text = (grid_dir / "ablation.md").read_text()
    assert "4 of 4 runs finished" in text and "| +MP-Init |" in text
    assert (grid_dir / "components.png").exists() and (grid_dir / "results.json").exists()
    assert main([*args, "--report-only", "--no-plots"]) == 0
    assert main(["ablate", "--epochs", "0", "--out", str(grid_dir)]) == 1
    assert main(["ablate", "--groups", "bogus", "--dry-run"]) == 1


def test_cli_json_holds_the_results_document(grid_dir: Path, tmp_path: Path) -> None:
    doc = tmp_path / "grid.json"
    args = ["ablate", "--out", str(grid_dir), "--seeds", "0", "--groups", "components"]
    assert main([*args, "--report-only", "--no-plots", "--json", str(doc)]) == 0
    assert json.loads(doc.read_text()) == json.loads((grid_dir / "results.json").read_text())
    assert len(json.loads(doc.read_text())) == 4  # the components table's four cells
