"""The training configuration: one dataclass, its defaults, validation and config-file loading.

Every option of ``stablespike train`` is a field of :class:`TrainConfig`; the command-line flags
are generated from the fields (:mod:`stablespike.core.options`), so the defaults and ``--help``
lines live here only. A config file (YAML or TOML, flat ``key: value`` pairs, ``-`` or ``_`` in
keys) overrides the defaults and flags override the file. The defaults are the project's main job:
``fmnist-cnn`` with MP-Init + TrSG on Fashion-MNIST, T = 4.

Fields marked *runtime* (where to write, which device, progress bar, ...) do not change the
trained numbers; all others do, and a checkpoint refuses to continue under different values.

Example:
    >>> cfg = TrainConfig(epochs=2, surrogate="as")
    >>> cfg.validate().neuron_kwargs()["surrogate"]
    'as'
    >>> TrainConfig(lr=-1).validate()
    Traceback (most recent call last):
    ...
    stablespike.core.errors.ConfigError: lr must be > 0, got -1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core import options
from ..core.errors import ConfigError
from ..core.options import (
    batch_size_option,
    check_values,
    data_dir_option,
    device_option,
    json_option,
    option,
    out_option,
    threads_option,
)
from ..functional.lif import RESETS
from ..functional.surrogate import SURROGATES, check_surrogate

COMPILE_BACKENDS: tuple[str, ...] = ("inductor", "aot_eager")
"""``--compile-backend`` choices."""

LEARNABLE: tuple[str, ...] = ("tau", "threshold")
"""The per-layer LIF parameters that ``--learn`` can make trainable."""


__all__ = [
    "TrainConfig",
    "add_config_arguments",
    "config_diff",
    "given_options",
    "load_config_file",
    "neuron_kwargs_from_flags",
    "option_fields",
    "parse_learn",
    "resolve_config",
]


@dataclass
class TrainConfig:
    """All options of a training run (see the module doc); ``validate()`` checks them."""

    # ------------------------------------------------------------------ run
    run_dir: str = out_option(
        "the run's folder: checkpoints, metrics and the summary ('' = runs/<dataset>)",
        flag="--out",
        aliases=("--run-dir",),
    )
    overwrite: bool = option(
        False,
        "start over in a RUN_DIR that already holds a run (the old run is deleted once the new "
        "one has written its first checkpoint)",
        group="run",
        runtime=True,
    )
    seed: int = option(0, "random seed (weights, data order, augmentation, dropout)", group="run")
    device: str = device_option()
    deterministic: bool = option(
        True,
        "deterministic algorithms (free on CPU; slower cuDNN kernels on CUDA)",
        group="run",
        runtime=True,
    )
    threads: int = threads_option(
        "CPU threads for torch (0 = torch's default; another count can change the last bits of "
        "sums, so a resumed run matches an uninterrupted one only with the same count)"
    )
    dist_timeout: float = option(
        600.0,
        "torchrun: seconds a process waits for the others in a collective operation before the "
        "job ends with an error (a frozen or lost process)",
        group="run",
        runtime=True,
        metavar="S",
    )
    compile: bool = option(
        False,
        "torch.compile the model (the compile time is reported; a changed batch size compiles "
        "once more). Off by default: on this project's CPU runs it does not pay (BENCHMARKS.md)",
        group="run",
        runtime=True,
    )
    compile_backend: str = option(
        "inductor",
        "torch.compile backend: inductor (generates code), aot_eager (traces only, for checks)",
        group="run",
        choices=COMPILE_BACKENDS,
        runtime=True,
    )
    json: str = json_option()
    # ------------------------------------------------------------------ data
    dataset: str = option(
        "fashion-mnist",
        "fashion-mnist, cifar10, cifar100, imagenet, cifar10-dvs, dvs-gesture, nmnist, "
        "ncaltech101, npz:PATH or tonic:NAME",
        group="data",
        metavar="NAME",
    )
    data_dir: str = data_dir_option()
    augment: str = option(
        "auto",
        "training augmentation: auto = the dataset's default",
        group="data",
        choices=("auto", "on", "off"),
    )
    batch_size: int = batch_size_option(
        64, "global batch size (split evenly across DDP processes)", runtime=False
    )
    eval_batch_size: int = option(
        500, "evaluation batch size per process", group="data", runtime=True
    )
    workers: int = option(
        0,
        "DataLoader worker processes (file-backed datasets only)",
        group="data",
        runtime=True,
    )
    split: str = option(
        "auto",
        "event data train/test split: auto = the dataset's default (spikingjelly)",
        group="data",
        choices=("auto", "spikingjelly", "tebn", "numeric"),
    )
    split_by: str = option(
        "auto",
        "event data frames: equal event counts (number) or equal time (time); auto = default",
        group="data",
        choices=("auto", "number", "time"),
    )
    cache_dir: str = option(
        "",
        "where event datasets cache their frames ('' = DATA_DIR/.stablespike_cache)",
        group="data",
        runtime=True,
        metavar="DIR",
    )
    recipe: str = option(
        "",
        "named preset of a paper's hyperparameters, below the config file and flags "
        "(spikformer-, qkformer-, spikingresformer- + cifar10 or cifar100; '' = none)",
        group="data",
        metavar="NAME",
    )
    mixup: float = option(0.0, "mixup Beta(a, a) alpha of the batch (0 = off)", group="data")
    cutmix: float = option(0.0, "cutmix Beta(a, a) alpha of the batch (0 = off)", group="data")
    mix_prob: float = option(1.0, "probability that a batch is mixed (mixup/cutmix)", group="data")
    mix_switch_prob: float = option(
        0.5, "with mixup and cutmix both on: probability of cutmix", group="data"
    )
    random_erasing: float = option(
        0.0, "probability of erasing a random box of each training image", group="data"
    )
    randaugment: str = option(
        "",
        "RandAugment as timm spells it, e.g. rand-m9-n1 (needs torchvision; '' = off)",
        group="data",
        metavar="SPEC",
    )
    # ------------------------------------------------------------------ model
    model: str = option(
        "fmnist-cnn",
        "fmnist-cnn, resnet19, cnn7-dvs, spiking-resnet18/34, sew-resnet34, spikformer-*, "
        "qkformer-*, spikingresformer-* (README lists them)",
        group="model",
        metavar="NAME",
    )
    timesteps: int = option(4, "timesteps T (static images are repeated T times)", group="model")
    dropout: float = option(
        -1.0, "dropout before the classifier (-1 = the model's default)", group="model"
    )
    drop_path: float = option(
        0.0,
        "stochastic depth: drop rate of the last block, linear from 0 (transformers only)",
        group="model",
    )
    sync_bn: bool = option(
        False, "synchronise BatchNorm statistics across DDP processes", group="model"
    )
    # ------------------------------------------------------------------ neuron
    surrogate: str = option(
        "trsg",
        "surrogate gradient: trsg (threshold-robust), as (absolute), rs (relative)",
        group="neuron",
        choices=SURROGATES,
    )
    mp_init: bool = option(
        True, "MP-Init: start each sequence from the running mean", group="neuron"
    )
    learn: str = option(
        "tau,threshold",
        "learnable LIF parameters: tau,threshold | tau | threshold | none",
        group="neuron",
        metavar="WHICH",
    )
    init_tau: float = option(2.0, "initial membrane time constant tau (> 1)", group="neuron")
    init_threshold: float = option(1.0, "initial firing threshold Vthr (> 0)", group="neuron")
    reset: str = option("soft", "reset after a spike", group="neuron", choices=RESETS)
    per_channel: bool = option(
        False, "one tau / threshold / MP-Init mean per channel", group="neuron"
    )
    backend: str = option(
        "auto",
        "LIF recurrence implementation (auto = fused where it passes its check, else reference)",
        group="neuron",
        runtime=True,
        metavar="NAME",
    )
    # ------------------------------------------------------------------ loss
    loss: str = option(
        "ce",
        "ce = cross-entropy on the time-mean output; tet = per-timestep CE (TET)",
        group="loss",
        choices=("ce", "tet"),
    )
    tet_lambda: float = option(
        1e-3, "TET: weight of the MSE term pulling outputs to 1", group="loss"
    )
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy", group="loss")
    # ------------------------------------------------------------------ optimisation
    optimizer: str = option("adamw", "optimizer", group="optim", choices=("sgd", "adamw"))
    lr: float = option(3e-3, "peak learning rate", group="optim")
    momentum: float = option(0.9, "SGD momentum (AdamW: beta1)", group="optim")
    weight_decay: float = option(1e-2, "weight decay (AdamW: decoupled)", group="optim")
    decay_scope: str = option(
        "all",
        "parameters that get weight decay: all, or weights = conv/linear weights only",
        group="optim",
        choices=("all", "weights"),
    )
    epochs: int = option(2, "training epochs", group="optim")
    schedule: str = option(
        "cosine", "learning-rate schedule (per step)", group="optim", choices=("cosine", "constant")
    )
    warmup_epochs: float = option(
        0.0, "linear warm-up length in epochs (fractions allowed)", group="optim"
    )
    min_lr: float = option(0.0, "final learning rate of the cosine schedule", group="optim")
    grad_clip: float = option(0.0, "clip the gradient norm to this value (0 = off)", group="optim")
    amp: str = option(
        "auto",
        "mixed precision: auto = fp16 on CUDA, off on CPU",
        group="optim",
        choices=("auto", "off", "fp16", "bf16"),
    )
    skip_nonfinite: bool = option(
        False, "skip a step with a non-finite loss or gradient instead of stopping", group="optim"
    )
    # ------------------------------------------------------------------ output
    ckpt_every: int = option(
        250,
        "also write RUN_DIR/last.pt every N training steps (0 = once per epoch)",
        group="output",
        runtime=True,
        metavar="N",
    )
    progress: str = option(
        "auto",
        "progress bar: auto = when stderr is a terminal",
        group="output",
        choices=("auto", "on", "off"),
        runtime=True,
    )
    tensorboard: bool = option(
        True, "also log to TensorBoard (when installed)", group="output", runtime=True
    )

    # ------------------------------------------------------------------ derived values
    def resolved_run_dir(self) -> Path:
        """``run_dir``, or ``runs/<dataset>`` when empty (``npz:x/y.npz`` -> ``runs/npz-y``)."""
        if self.run_dir:
            return Path(self.run_dir)
        kind, _, arg = self.dataset.partition(":")
        slug = f"{kind}-{Path(arg).stem}" if arg else kind
        return Path("runs") / re.sub(r"[^A-Za-z0-9_.-]+", "-", slug)

    def learn_flags(self) -> dict[str, bool]:
        """``{"learn_tau": ..., "learn_threshold": ...}`` from ``learn``."""
        try:
            return parse_learn(self.learn)
        except ValueError as err:
            raise ConfigError(str(err)) from None

    def neuron_kwargs(self) -> dict[str, Any]:
        """The ``TrLIF`` options for :func:`stablespike.models.build_model`."""
        return neuron_kwargs_from_flags(
            surrogate=self.surrogate,
            mp_init=self.mp_init,
            learn=self.learn,
            init_tau=self.init_tau,
            init_threshold=self.init_threshold,
            reset=self.reset,
            per_channel=self.per_channel,
            backend=self.backend,
        )

    def batch_augment(self, num_classes: int, rank: int = 0) -> Any:
        """The :class:`~stablespike.train.augment.BatchAugment` of these options (None if off)."""
        from .augment import BatchAugment

        try:
            aug = BatchAugment(
                num_classes=num_classes,
                mixup=self.mixup,
                cutmix=self.cutmix,
                mix_prob=self.mix_prob,
                switch_prob=self.mix_switch_prob,
                erase_prob=self.random_erasing,
                randaugment=self.randaugment,
                seed=self.seed,
                rank=rank,
            )
        except (ValueError, ImportError) as err:
            raise ConfigError(str(err)) from None
        return aug if aug.active else None

    def augment_flag(self) -> bool | None:
        """``augment`` as the data package wants it (None = dataset default)."""
        return {"auto": None, "on": True, "off": False}[self.augment]

    # ------------------------------------------------------------------ validation
    def validate(self) -> TrainConfig:
        """Check every value; raise :class:`ConfigError` naming the first bad one. Returns self."""
        check_values(self)
        positive = ("eval_batch_size", "epochs", "timesteps")  # batch_size: its option's minimum
        for name in positive:
            _check(self, name, lambda v: v >= 1, ">= 1")
        for name in ("lr", "init_threshold", "dist_timeout"):
            _check(self, name, lambda v: v > 0, "> 0")
        _check(self, "init_tau", lambda v: v > 1, "> 1")
        for name in ("mixup", "cutmix"):
            _check(self, name, lambda v: v >= 0, ">= 0")
        for name in ("mix_prob", "mix_switch_prob", "random_erasing"):
            _check(self, name, lambda v: 0 <= v <= 1, "in [0, 1]")
        _check(self, "drop_path", lambda v: 0 <= v < 1, "in [0, 1)")
        if self.recipe:
            from .recipes import recipe_values

            recipe_values(self.recipe)
        for name in ("weight_decay", "warmup_epochs", "min_lr", "grad_clip", "label_smoothing"):
            _check(self, name, lambda v: v >= 0, ">= 0")
        for name in ("workers", "ckpt_every"):  # threads: its option's minimum
            _check(self, name, lambda v: v >= 0, ">= 0")
        _check(self, "label_smoothing", lambda v: v < 1, "< 1")
        _check(self, "momentum", lambda v: 0 <= v < 1, "in [0, 1)")
        _check(self, "tet_lambda", lambda v: 0 <= v <= 1, "in [0, 1]")
        _check(self, "dropout", lambda v: v == -1 or 0 <= v < 1, "-1 or in [0, 1)")
        _check(self, "min_lr", lambda v: v <= self.lr, f"<= lr ({self.lr})")
        if self.warmup_epochs > self.epochs:
            raise ConfigError(
                f"warmup_epochs ({self.warmup_epochs}) must not exceed epochs ({self.epochs})"
            )
        if not self.dataset.strip():
            raise ConfigError("dataset must not be empty")
        self.learn_flags()
        self._check_names()
        return self

    def _check_names(self) -> None:
        """Dataset, model and backend exist and take these options (nothing is read or built).

        The registries check the names, so their messages list what is available.
        """
        from ..data import dataset_options
        from ..kernels import check_backend_name
        from ..models import model_options

        try:
            dataset_options(self.dataset)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        check_backend_name(self.backend)
        accepted = model_options(self.model)
        if self.drop_path > 0 and accepted is not None and "drop_path" not in accepted:
            raise ConfigError(
                f"drop_path must be 0 for model {self.model!r} (only the transformers take it), "
                f"got {self.drop_path}"
            )

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}`` (what ``config.yaml`` and checkpoints hold)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
        """Build from ``{name: value}`` (``-`` or ``_`` in names); unknown names are refused.

        ``neuron: trlif``, an option of earlier versions (it had no other value), is ignored.
        """
        values = {k: v for k, v in values.items() if not (k == "neuron" and v == "trlif")}
        return cls(**normalise_keys(values, source=source))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (not validated)."""
        return dataclasses.replace(self, **changes)


def _check(cfg: TrainConfig, name: str, ok: Any, what: str) -> None:
    value = getattr(cfg, name)
    if not ok(value):
        raise ConfigError(f"{name} must be {what}, got {value!r}")


def option_fields() -> tuple[dataclasses.Field, ...]:
    """The fields of :class:`TrainConfig`, in declaration order (one CLI flag each)."""
    return options.option_fields(TrainConfig)


def normalise_keys(values: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """``{"batch-size": 64}`` -> ``{"batch_size": 64}``; unknown keys raise :class:`ConfigError`."""
    return options.normalise_keys(values, TrainConfig, source=source)


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, reading ``1e-3`` as a float and refusing a key given twice.

    YAML 1.1 (PyYAML) reads ``1e-3`` as the string "1e-3" (its floats need a dot); YAML 1.2 and
    every user read it as 0.001.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"option {key!r} is given twice (lines {seen[key]} and {line})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a flat YAML (``.yaml``/``.yml``) or TOML (``.toml``) file of options.

    Returns ``{field name: value}`` with the keys checked; values are checked later by
    :meth:`TrainConfig.validate`. In YAML, ``1e-3`` is a float and a key given twice is an
    error; a ``run_id`` key (as in a run's ``config.yaml``) is ignored.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = p.write_text("batch-size: 64\\nsurrogate: as\\n")
        >>> load_config_file(p)
        {'batch_size': 64, 'surrogate': 'as'}
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigError(f"config file {path} must end in .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.load(text, Loader=_ConfigLoader)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"config file {path} is not valid {suffix[1:].upper()}: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of option: value, got {type(data).__name__}"
        )
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if nested:
        raise ConfigError(
            f"config file {path}: options must be flat 'name: value' pairs, "
            f"but {', '.join(map(str, nested))} is a section"
        )
    data = {k: v for k, v in data.items() if str(k).replace("-", "_") != "run_id"}
    return normalise_keys(data, source=f"config file {path}")


def config_diff(
    saved: Mapping[str, Any], current: Mapping[str, Any], *, include_runtime: bool = False
) -> list[str]:
    """Lines ``name: saved X vs now Y`` for the options that differ (runtime ones skipped).

    Example:
        >>> config_diff({"lr": 0.1, "device": "cpu"}, {"lr": 0.2, "device": "cuda"})
        ['lr: checkpoint 0.1 vs now 0.2']
    """
    lines = []
    for f in option_fields():
        if f.metadata["runtime"] and not include_runtime:
            continue
        if f.name not in saved and f.name not in current:
            continue
        a, b = saved.get(f.name, "<missing>"), current.get(f.name, "<missing>")
        if a != b:
            lines.append(f"{f.name}: checkpoint {a!r} vs now {b!r}")
    return lines


def parse_learn(spec: str) -> dict[str, bool]:
    """``"tau,threshold"`` / ``"tau"`` / ``"threshold"`` / ``"none"`` -> ``learn_tau``, ``learn_threshold``.

    Example:
        >>> parse_learn("tau")
        {'learn_tau': True, 'learn_threshold': False}
    """
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if names == ["none"]:
        names = []
    elif not names or any(n not in LEARNABLE for n in names):
        raise ValueError(
            f"invalid --learn value {spec!r}; expected 'none' or a comma-separated subset of "
            f"{', '.join(LEARNABLE)} (e.g. 'tau,threshold')"
        )
    return {f"learn_{name}": name in names for name in LEARNABLE}


def neuron_kwargs_from_flags(
    surrogate: str = "trsg", mp_init: bool = True, learn: str = "tau,threshold", **extra: Any
) -> dict[str, Any]:
    """The ``TrLIF`` ``neuron_kwargs`` for one choice of the ablation flags (``extra`` passes).

    Example:
        >>> neuron_kwargs_from_flags(surrogate="as", mp_init=False, learn="threshold")
        {'surrogate': 'as', 'mp_init': False, 'learn_tau': False, 'learn_threshold': True}
    """
    return {
        "surrogate": check_surrogate(surrogate),
        "mp_init": bool(mp_init),
        **parse_learn(learn),
        **extra,
    }


# ---------------------------------------------------------------- command-line flags
_GROUP_TITLES = {
    "run": "run",
    "data": "data",
    "model": "model",
    "neuron": "neuron (ablations of docs/METHOD.md §5.1)",
    "loss": "loss",
    "optim": "optimisation",
    "output": "checkpoints and logging",
}


def add_config_arguments(
    parser: argparse.ArgumentParser, *, only: set[str] | None = None, config_file: bool = True
) -> None:
    """Add ``--config FILE`` and one flag per config field (or only the fields in ``only``).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_config_arguments(p)
        >>> args = p.parse_args(["--epochs", "2", "--no-mp-init"])
        >>> sorted(given_options(args).items())
        [('epochs', 2), ('mp_init', False)]
        >>> cfg = resolve_config(args)
        >>> cfg.epochs, cfg.mp_init, cfg.surrogate
        (2, False, 'trsg')
    """
    if config_file:
        parser.add_argument(
            "--config",
            metavar="FILE",
            default=None,
            help="YAML or TOML file of options (flags override it; default: none)",
        )
    options.add_options(parser, TrainConfig, only=only, titles=_GROUP_TITLES)


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields that were given on the command line, ``{name: value}``."""
    return options.given_options(args, TrainConfig)


def resolve_config(args: argparse.Namespace, base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then ``--recipe``'s values, ``base``, ``--config FILE``, the flags; validated."""
    values: dict[str, Any] = dict(base or {})
    config_path = getattr(args, "config", None)
    if config_path:
        values.update(load_config_file(config_path))
    values.update(given_options(args))
    return TrainConfig.from_dict(with_recipe(values)).validate()


def with_recipe(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` on top of the values of the recipe they name (if any): recipe < values."""
    from .recipes import recipe_values

    values = normalise_keys(values, source="options")
    name = values.get("recipe")
    if not name:
        return values
    return {**recipe_values(str(name)), **values}
