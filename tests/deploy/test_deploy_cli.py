"""``stablespike eval --anytime`` and ``stablespike export`` on a tiny trained run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_helpers import TINY_ARGS, cli, make_tiny_npz  # noqa: E402

from stablespike.deploy.anytime_eval import policy_path, saved_policy  # noqa: E402

nir = pytest.importorskip("nir")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deploy-cli")
    npz = make_tiny_npz(root / "tiny.npz")
    run = root / "run"
    cli(
        "train", *TINY_ARGS, "--dataset", f"npz:{npz}", "--run-dir", str(run),
        "--backend", "reference", "--init-threshold", "0.7", cwd=root,
    )  # fmt: skip
    return run


def test_eval_anytime_sweeps_plots_and_saves_the_chosen_policy(run_dir: Path) -> None:
    out = run_dir.parent / "anytime.json"
    proc = cli(
        "eval", str(run_dir), "--anytime", "--anytime-target", "1.0",
        "--anytime-calibration", "64", "--json", str(out), cwd=run_dir.parent,
    )  # fmt: skip
    assert "full T (never)" in proc.stdout and "confidence:0.9 " in proc.stdout
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert rows[0]["policy"] == "never" and rows[0]["mean_steps"] == 2.0
    assert all(1.0 <= r["mean_steps"] <= 2.0 for r in rows)
    assert all(abs(sum(r["steps_share"]) - 100.0) < 1e-9 for r in rows)
    assert all(r["energy_uj"] <= rows[0]["energy_uj"] + 1e-12 for r in rows)
    chosen = report["chosen"]
    assert chosen["calibration"]["accuracy_drop"] <= 1.0
    # really running the anytime module gives the sweep's numbers (outputs are causal)
    assert chosen["test_measured"]["accuracy"] == pytest.approx(chosen["test"]["accuracy"])
    assert chosen["test_measured"]["mean_steps"] == pytest.approx(chosen["test"]["mean_steps"])
    assert policy_path(run_dir) == run_dir / "best.anytime.json"
    assert str(saved_policy(run_dir)) == chosen["calibration"]["policy"]
    png = Path(report["plot"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_anytime_other_policies_and_bad_values(run_dir: Path) -> None:
    proc = cli(
        "eval", str(run_dir), "--anytime", "stable", "--anytime-values", "1,2,5",
        "--anytime-plot", "", cwd=run_dir.parent,
    )  # fmt: skip
    assert "stable:1 " in proc.stdout and "stable:2 " in proc.stdout
    assert "stable:5" not in proc.stdout  # beyond T = 2
    bad = cli(
        "eval", str(run_dir), "--anytime", "--anytime-values", "0.5,1.5", cwd=run_dir.parent,
        check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "confidence threshold must be in (0, 1]" in bad.stderr


def test_eval_anytime_plot_goes_to_out(run_dir: Path) -> None:
    folder = run_dir.parent / "plots"
    cli(
        "eval", str(run_dir), "--anytime", "stable", "--anytime-values", "1", "--out",
        str(folder), cwd=run_dir.parent,
    )  # fmt: skip
    assert (folder / "anytime-stable.png").stat().st_size > 0
    assert not (run_dir / "anytime-stable.png").exists()


def test_export_nir_exact_and_the_hard_reset_approximation(run_dir: Path) -> None:
    exact = run_dir.parent / "model.nir"
    proc = cli("export", str(run_dir), "--format", "nir", "-o", str(exact), cwd=run_dir.parent)
    assert "exact: the graph computes the folded model's spikes" in proc.stdout
    graph = nir.read(exact)
    assert {"LI", "Threshold", "Scale"} <= {type(n).__name__ for n in graph.nodes.values()}
    assert str(graph.metadata["model"]) == "fmnist-cnn"

    hard = run_dir.parent / "model-hard.nir"
    proc = cli(
        "export", str(run_dir), "--format", "nir", "--lif-hard-reset", "-o", str(hard),
        cwd=run_dir.parent,
    )  # fmt: skip
    assert "APPROXIMATION (--lif-hard-reset)" in proc.stdout
    assert "with the hard-reset approximation" in proc.stdout
    kinds = {type(n).__name__ for n in nir.read(hard).nodes.values()}
    assert "LIF" in kinds and "LI" not in kinds


def test_export_torch_program_runs(run_dir: Path) -> None:
    target = run_dir.parent / "model.pt2"
    cli("export", str(run_dir), "--format", "torch", "--dynamic-batch", "-o", str(target),
        cwd=run_dir.parent)  # fmt: skip
    program = torch.export.load(target).module()
    from stablespike.train import load_trained_model

    model, _ = load_trained_model(run_dir)
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), rtol=1e-5, atol=1e-5)


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a markdown file, in order."""
    blocks, current = [], None
    for line in path.read_text().splitlines():
        if current is None and line.strip() == "```python":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_the_examples_of_deploy_md_run(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md"
    blocks = python_blocks(doc)
    assert len(blocks) == 4
    if not policy_path(run_dir).is_file():
        cli("eval", str(run_dir), "--anytime", "--anytime-target", "1.0",
            "--anytime-calibration", "64", "--anytime-plot", "", cwd=run_dir.parent)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for block in blocks:  # the examples that load a run use the tiny trained one
        code = block.replace('"runs/fashion-mnist"', repr(str(run_dir)))
        exec(compile(code, f"{doc.name} example", "exec"), {"__name__": "deploy_md"})
    assert (tmp_path / "model.pt2").is_file() and (tmp_path / "model.nir").is_file()
