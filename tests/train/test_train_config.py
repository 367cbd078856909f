"""Config: defaults, file + flag layering, validation messages, generated --help."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stablespike.core.errors import ConfigError
from stablespike.train.config import (
    TrainConfig,
    add_config_arguments,
    config_diff,
    load_config_file,
    option_fields,
    resolve_config,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_config_arguments(p)
    return p


def test_defaults_are_the_main_job() -> None:
    cfg = TrainConfig().validate()
    assert (cfg.dataset, cfg.model, cfg.timesteps) == ("fashion-mnist", "fmnist-cnn", 4)
    assert cfg.neuron_kwargs()["surrogate"] == "trsg" and cfg.neuron_kwargs()["mp_init"]
    assert cfg.learn_flags() == {"learn_tau": True, "learn_threshold": True}
    assert str(cfg.resolved_run_dir()) == "runs/fashion-mnist"
    assert str(TrainConfig(dataset="npz:/a/b.npz").resolved_run_dir()) == "runs/npz-b"


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_flags_override_the_file_which_overrides_defaults(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"c{suffix}"
    if suffix == ".yaml":
        path.write_text("epochs: 7\nbatch-size: 32\nsurrogate: rs\n")
    else:
        path.write_text('epochs = 7\nbatch_size = 32\nsurrogate = "rs"\n')
    args = _parser().parse_args(["--config", str(path), "--epochs", "3", "--no-mp-init"])
    cfg = resolve_config(args)
    assert (cfg.epochs, cfg.batch_size, cfg.surrogate, cfg.mp_init) == (3, 32, "rs", False)
    assert cfg.lr == TrainConfig().lr


def test_ablation_flags_reach_the_neuron() -> None:
    args = _parser().parse_args(["--surrogate", "as", "--learn", "threshold", "--no-mp-init"])
    kw = resolve_config(args).neuron_kwargs()
    assert kw["surrogate"] == "as" and kw["mp_init"] is False
    assert kw["learn_tau"] is False and kw["learn_threshold"] is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr": -1.0}, "lr must be > 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learn": "tau,bias"}, "invalid --learn value"),
        ({"optimizer": "lamb"}, "optimizer must be one of sgd, adamw"),
        ({"epochs": "3"}, "epochs must be int"),
        ({"warmup_epochs": 5.0, "epochs": 2}, "warmup_epochs (5.0) must not exceed epochs"),
    ],
)
def test_bad_values_raise_clear_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig.from_dict(values).validate()


def test_config_file_errors(tmp_path: Path) -> None:
    bad_key = tmp_path / "a.yaml"
    bad_key.write_text("batchsize: 3\n")
    with pytest.raises(ConfigError, match="unknown option 'batchsize'.*did you mean 'batch_size'"):
        load_config_file(bad_key)
    not_mapping = tmp_path / "b.yaml"
    not_mapping.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config_file(not_mapping)
    with pytest.raises(ConfigError, match="must end in .yaml"):
        load_config_file(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config_file(tmp_path / "missing.yaml")


def test_every_option_has_a_flag_with_help_and_default() -> None:
    text = _parser().format_help()
    for f in option_fields():
        flag = "--" + f.name.replace("_", "-")
        assert flag in text, flag
    assert text.count("(default:") >= len(option_fields())


def test_config_diff_ignores_runtime_options() -> None:
    a = TrainConfig().to_dict()
    b = TrainConfig(device="cpu", progress="off", lr=0.5).to_dict()
    assert config_diff(a, b) == [f"lr: checkpoint {TrainConfig().lr!r} vs now 0.5"]


def test_yaml_exponents_are_floats_and_a_repeated_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1e-3\nmin-lr: 5E-6\nweight_decay: 2.5e+1\nepochs: 3\nseed: 1_0\n")
    got = load_config_file(path)
    assert got == {"lr": 1e-3, "min_lr": 5e-6, "weight_decay": 25.0, "epochs": 3, "seed": 10}
    assert TrainConfig.from_dict(got).validate().lr == 0.001
    path.write_text("lr: 0.1\nepochs: 3\nlr: 0.01\n")
    with pytest.raises(ConfigError, match=r"option 'lr' is given twice \(lines 1 and 3\)"):
        load_config_file(path)


def test_a_run_config_yaml_is_usable_as_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("run_id: 0123456789ab\nepochs: 5\n")  # as a run directory's config.yaml
    assert load_config_file(path) == {"epochs": 5}
