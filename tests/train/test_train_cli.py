"""The train / eval / resume commands end to end (in process, tiny npz data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from stablespike.cli import main

COMMON = ["--timesteps", "2", "--lr", "0.005", "--progress", "off", "--no-tensorboard"]


@pytest.fixture(scope="module")
def finished_run(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-epoch run configured by a YAML file plus flags that override it."""
    root = tmp_path_factory.mktemp("cli")
    config = root / "tiny.yaml"
    config.write_text(f"dataset: npz:{tiny_npz}\nbatch-size: 32\nepochs: 3\nsurrogate: trsg\n")
    run = root / "run"
    code = main(
        ["train", "--config", str(config), "--batch-size", "8", *COMMON, "--run-dir", str(run),
         "--json", str(root / "summary-copy.json")]
    )  # fmt: skip
    assert code == 0
    return run


def test_run_directory_contents(finished_run: Path) -> None:
    saved = yaml.safe_load((finished_run / "config.yaml").read_text())
    assert saved["batch_size"] == 8 and saved["epochs"] == 3  # flag over file over default
    rows = (finished_run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,lr,train_loss,train_acc,test_loss,test_acc,test_acc_t1")
    assert len(rows) == 4
    summary = json.loads((finished_run / "summary.json").read_text())
    assert len(summary["final"]["accuracy_per_timestep"]) == 2
    assert summary["best"]["accuracy"] >= summary["final"]["accuracy"] > 25.0
    assert summary["wall_time_s"] > 0 and summary["images_per_s"] > 0
    layers = summary["layers"]
    assert list(layers) == ["stem_lif", "features.2", "classifier.2"]
    for entry in layers.values():
        assert {"tau", "threshold", "mp_mean", "firing_rate"} <= set(entry)
        assert entry["mp_mean"] != 0 and 0 < entry["firing_rate"] < 1


def test_train_json_writes_the_summary_document(finished_run: Path) -> None:
    copy = finished_run.parent / "summary-copy.json"
    assert copy.read_text() == (finished_run / "summary.json").read_text()
    assert json.loads(copy.read_text())["final"]["accuracy"] > 25.0


def test_eval_reproduces_the_recorded_accuracy(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    assert main(["eval", str(finished_run / "best.pt"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["accuracy"] == report["recorded_accuracy"]
    assert report["accuracy_per_timestep"] == report["recorded_accuracy_per_timestep"]
    state = torch.load(finished_run / "best.pt", weights_only=True)["model"]
    assert report["layers"]["stem_lif"]["mp_mean"] == pytest.approx(
        float(state["stem_lif.mp_mean"])
    )
    printed = capsys.readouterr().out
    assert "read-out after t steps:  t=1" in printed and "recorded at training time" in printed


def test_load_trained_model_reproduces_eval_and_folds(finished_run: Path, tiny_npz: Path) -> None:
    import numpy as np

    import stablespike as ss
    from stablespike.train import load_trained_model

    model, cfg = load_trained_model(finished_run)  # the run directory: its best.pt
    assert not model.training and cfg.timesteps == 2
    data = np.load(tiny_npz)
    x = torch.as_tensor(data["x_test"], dtype=torch.float32)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    x = x / 255.0 if x.max() > 1 else x
    summary = json.loads((finished_run / "summary.json").read_text())
    with torch.no_grad():
        logits = model(x)  # [T, B, classes]
    labels = torch.as_tensor(data["y_test"])
    acc = float((logits.mean(0).argmax(1) == labels).float().mean()) * 100
    assert acc == pytest.approx(summary["best"]["accuracy"], abs=1e-6)
    folded = ss.fold_thresholds(model, example_input=x[:4])
    with torch.no_grad():
        torch.testing.assert_close(folded(x[:4]), logits[:, :4], rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception, match="checkpoint"):
        load_trained_model(finished_run / "missing.pt")


def test_open_for_eval_gives_model_config_and_test_batches(finished_run: Path) -> None:
    from stablespike.train import ConfigError, open_for_eval

    with open_for_eval(finished_run, device="cpu", batch_size=5, timesteps=3) as run:
        assert run.path == finished_run / "best.pt" and not run.model.training
        assert run.config.eval_batch_size == 5 and run.config.timesteps == 3
        assert run.device.type == "cpu" and run.dataset and "metrics" in run.checkpoint
        x, y = next(iter(run.test_batches()))
        assert y.shape == (5,) and run.model(x).shape[:2] == (3, 5)  # [T, B, classes]
    with pytest.raises(ConfigError, match="device"):
        with open_for_eval(finished_run, device="tpu"):
            pass


def test_resume_of_a_finished_run_only_reports(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = torch.load(finished_run / "last.pt", weights_only=True)["model"]
    assert main(["resume", str(finished_run), "--progress", "off"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    after = torch.load(finished_run / "last.pt", weights_only=True)["model"]
    assert all(
        torch.equal(before[k], after[k]) for k in before if isinstance(before[k], torch.Tensor)
    )


def test_refusals_say_what_is_wrong(
    finished_run: Path, tiny_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = ["train", "--dataset", f"npz:{tiny_npz}", *COMMON, "--run-dir", str(finished_run)]
    assert main(again) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(finished_run), "--lr", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "trained with other options" in err and "lr: checkpoint 0.005 vs now 0.5" in err
    assert main(["resume", str(tmp_path)]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nope.pt")]) == 1
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["train", "--dataset", "npz:/no/such.npz", "--run-dir", str(tmp_path / "x")]) == 1
    assert "/no/such.npz" in capsys.readouterr().err
    assert main(["train", "--model", "no-such-net", "--dataset", f"npz:{tiny_npz}",
                 "--run-dir", str(tmp_path / "y")]) == 1  # fmt: skip
    assert "unknown model 'no-such-net'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "resume", "eval"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "(default:" in capsys.readouterr().out
