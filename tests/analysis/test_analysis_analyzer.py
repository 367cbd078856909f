"""analyze_model end to end on a tiny model: consistency of the assembled result."""

import json
import subprocess
import sys

import pytest
import torch

from stablespike.analysis import analyze_model, format_report, save_analysis
from stablespike.analysis.report import markdown_table, text_table


def test_result_is_consistent(tiny_model, tiny_batches) -> None:
    before = {k: v.clone() for k, v in tiny_model.state_dict().items() if torch.is_tensor(v)}
    result = analyze_model(tiny_model, tiny_batches, max_batches=2)
    assert result["images"] == 16 and result["timesteps"] == 4
    # accuracy after T steps is the plain accuracy of the time-mean output
    with torch.no_grad():
        correct = sum(
            int((tiny_model(x).mean(0).argmax(-1) == y).sum()) for x, y in tiny_batches[:2]
        )
    assert result["accuracy"] == pytest.approx(correct / 16)
    assert [lay["layer"] for lay in result["layers"]] == ["lif1", "lif2"]
    lif1 = result["layers"][0]
    assert lif1["threshold"] == pytest.approx(0.5) and lif1["tau"] == pytest.approx(2.0)
    assert lif1["tv_to_last"][-1] == 0.0 and len(lif1["firing_rate"]) == 4
    assert lif1["grad"]["count"] == 16 * 16 * 4  # neurons x images x steps
    assert len(result["timestep_gradients"]["cosine"]) == 4
    kinds = {r["layer"]: r["kind"] for r in result["synops"]["layers"]}
    assert kinds == {"fc1": "mac", "fc2": "ac", "head": "ac"}
    # eval mode: nothing in the model changed (MP-Init means, BN statistics, weights)
    for k, v in before.items():
        torch.testing.assert_close(tiny_model.state_dict()[k], v)
    assert all(p.grad is None for p in tiny_model.parameters())
    json.dumps(result)


def test_grad_batches_zero_skips_gradients(tiny_model, tiny_batches) -> None:
    result = analyze_model(tiny_model, tiny_batches, grad_batches=0)
    assert "timestep_gradients" not in result
    assert all("grad" not in lay for lay in result["layers"])
    assert result["images"] == 24


def test_bad_arguments(tiny_model, tiny_batches) -> None:
    with pytest.raises(ValueError, match="no batch"):
        analyze_model(tiny_model, [])
    with pytest.raises(ValueError, match="max_batches"):
        analyze_model(tiny_model, tiny_batches, max_batches=0)


def test_report_and_saved_files(tiny_model, tiny_batches, tmp_path) -> None:
    result = analyze_model(tiny_model, tiny_batches, max_batches=1)
    report = format_report(result)
    for needle in ("accuracy after t steps", "AbsStr", "RatioAG", "GradCV", "mJ per image", "lif2"):
        assert needle in report
    paths = save_analysis(result, tmp_path / "analysis")
    names = {p.name for p in paths}
    assert {"analysis.json", "report.txt", "synops.md", "membrane_potential.png"} <= names
    assert {"timestep_grad_cosine.png", "grad_stability.png", "early_exit.png"} <= names
    assert all(p.stat().st_size > 0 for p in paths)
    assert json.loads((tmp_path / "analysis" / "analysis.json").read_text())["images"] == 8
    assert "| total |" in (tmp_path / "analysis" / "synops.md").read_text()
    no_png = save_analysis(result, tmp_path / "text_only", plots=False)
    assert all(p.suffix != ".png" for p in no_png)


def test_matplotlib_is_imported_lazily() -> None:
    code = "import sys, stablespike.analysis; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tables() -> None:
    assert markdown_table(["a"], [[1]]) == "| a |\n|---|\n| 1 |"
    assert text_table(["x", "y"], [["long", 1]]).splitlines()[1] == "long  1"
    with pytest.raises(ValueError, match="cells"):
        markdown_table(["a", "b"], [[1]])
