"""Checkpoint files: atomic writes, untrusted loading, refusing a checkpoint that does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stablespike.core.errors import CheckpointError, NonFiniteError
from stablespike.models import build_model
from stablespike.train import checkpoint as ck


class _Arbitrary:
    """Any class: unpickling it could run code, so weights_only loading must refuse it."""


def _net(**neuron: object) -> torch.nn.Module:
    return build_model(
        "fmnist-cnn", num_classes=4, in_channels=1, timesteps=2, input_size=8, neuron_kwargs=neuron
    )


def test_a_crash_mid_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    ck.save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(3)}})

    def torn_write(obj: object, f: object) -> None:
        f.write(b"PK\x03\x04 partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_write)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(3)}})
    monkeypatch.undo()
    assert ck.load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary left


def test_non_finite_weights_are_never_written(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    with pytest.raises(NonFiniteError, match=r"non-finite values in w"):
        ck.save_checkpoint(path, {"model": {"w": torch.tensor([1.0, float("nan")])}})
    assert not path.exists()


def test_loading_is_weights_only_and_checks_the_format(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "version": ck.VERSION, "x": _Arbitrary()}, evil)
    with pytest.raises(CheckpointError, match="refused for safety"):
        ck.load_checkpoint(evil)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a stablespike checkpoint"):
        ck.load_checkpoint(other)
    torn = tmp_path / "torn.pt"
    torn.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="cannot load"):
        ck.load_checkpoint(torn)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        ck.load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        ck.load_checkpoint(tmp_path)


def test_a_checkpoint_of_another_model_is_refused_with_the_difference() -> None:
    saved = _net(surrogate="as")
    current = _net(surrogate="trsg")
    with pytest.raises(CheckpointError, match="surrogate.*'as'.*'trsg'"):
        ck.load_model_state(current, saved.state_dict(), saved_config=saved.config)
    wider = build_model("fmnist-cnn", num_classes=7, in_channels=1, timesteps=2, input_size=8)
    with pytest.raises(CheckpointError, match=r"classifier.4.weight: shape \(7, 128\)"):
        ck.load_model_state(_net(), wider.state_dict())
    state = _net().state_dict()
    del state["stem_lif.mp_mean"]
    with pytest.raises(CheckpointError, match="missing stem_lif.mp_mean"):
        ck.load_model_state(_net(), state)


def test_mp_init_means_round_trip(tmp_path: Path) -> None:
    net = _net()
    net(torch.rand(4, 1, 8, 8) * 3)
    path = tmp_path / "m.pt"
    ck.save_checkpoint(path, {"model": net.state_dict(), "model_config": net.config})
    fresh = _net()
    got = ck.load_checkpoint(path)
    ck.load_model_state(fresh, got["model"], saved_config=got["model_config"])
    assert float(fresh.stem_lif.mp_mean) == float(net.stem_lif.mp_mean) != 0.0
