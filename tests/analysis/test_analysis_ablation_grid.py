"""Ablation grid, settings and tables (no training)."""

import json

import pytest

from stablespike.analysis.ablation.grid import Cell, ablation_rows, distinct_cells
from stablespike.analysis.ablation.settings import GridSettings, pin_settings
from stablespike.analysis.ablation.tables import Stat, ablation_markdown, stat


def test_default_grid_size_and_sharing() -> None:
    rows = ablation_rows()
    cells = distinct_cells(rows)
    assert (len(rows), len(cells)) == (38, 36)
    assert len({c.key() for c in cells}) == 36
    # "both learned" is the full method, the same cell as the components' last row
    both = [r for r in rows if r.label in ("both", "MP-Init + TrSG")]
    assert both[0].cell == both[1].cell == Cell()
    sweep = [r for r in rows if r.group == "threshold"]
    assert all(r.cell.learn == "tau" and r.cell.mp_init for r in sweep)
    assert {r.cell.init_threshold for r in sweep} == {0.1, 0.5, 1.0, 1.5, 2.0}


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="group"):
        ablation_rows(groups=["nope"])
    with pytest.raises(ValueError, match="> 0"):
        ablation_rows(thresholds=[0.0])


def test_settings_are_pinned(tmp_path) -> None:
    pin_settings(tmp_path, GridSettings())
    pin_settings(tmp_path, GridSettings())  # same size: fine
    with pytest.raises(ValueError, match="epochs: saved 1 vs now 3"):
        pin_settings(tmp_path, GridSettings(epochs=3))
    with pytest.raises(ValueError, match="model architecture"):
        pin_settings(tmp_path, GridSettings(), "123-abc")
    assert json.loads((tmp_path / "grid.json").read_text())["train_subset"] == 2000
    with pytest.raises(ValueError, match="batch_size"):
        GridSettings(train_subset=10, batch_size=32).validate()
    with pytest.raises(ValueError, match="unknown"):
        GridSettings.from_dict({"foo": 1})


def test_stat_mean_and_sample_std() -> None:
    s = Stat.of([1.0, 2.0, 3.0, 4.0])
    assert s.mean == 2.5 and s.std == pytest.approx(1.2909944)
    assert Stat.of([5.0]).std == 0.0
    assert Stat.of([70.0, 72.0], diverged=1).text() == "71.00 ± 1.41 (1/3 div)"
    assert Stat.of([]).text() == "—"


def fake_result(cell: Cell, seed: int, acc: float, status: str = "ok") -> dict:
    layer = {"threshold": 0.8, "abs_str": 0.01, "ratio_ag": 0.05, "grad_cv": 0.7}
    return {
        "key": cell.key(), "seed": seed, "status": status, "accuracy": acc,
        "accuracy_per_timestep": [acc - 5, acc], "energy_uj": 2.0,
        "layers": [layer, {**layer, "threshold": 1.9}],
        "grad_mean": {"abs_str": 0.01, "ratio_ag": 0.05, "grad_cv": 0.7},
    }  # fmt: skip


def test_tables_from_synthetic_results() -> None:
    rows = ablation_rows(thresholds=(0.5, 2.0))
    results = {
        c.key(): [fake_result(c, 0, 80.0), fake_result(c, 1, 82.0)] for c in distinct_cells(rows)
    }
    rs_2 = Cell("rs", True, "tau", 2.0, "soft")
    results[rs_2.key()] = [fake_result(rs_2, 0, 0, "diverged"), fake_result(rs_2, 1, 0, "diverged")]
    text = ablation_markdown(rows, results, "# header")
    assert text.startswith("# header")
    assert (
        "| baseline (AS-SG, U0=0) | 81.00 ± 1.41 | 76.00 ± 1.41 | 2.000 ± 0.000 | 75.55 | 76.60 |"
        in text
    )
    assert "| both | 81.00 ± 1.41 | 0.80 → 1.90 | 77.22 |" in text
    assert "| RS-SG, soft reset | 81.00 ± 1.41 | div (2/2) |" in text
    assert "| *paper C100: RS-SG, soft* | 76.12 | 5.43 |" in text
    assert "0.0323 / 6.90% / 0.731" in text
    assert stat(results, rows[0], "grad_mean", "ratio_ag").mean == pytest.approx(0.05)
