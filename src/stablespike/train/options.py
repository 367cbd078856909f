"""Command-line flags generated from :class:`~stablespike.train.config.TrainConfig`.

One flag per config field (``batch_size`` -> ``--batch-size``; booleans get ``--x/--no-x``), with
the field's help line and default. Flags that were not given are absent from the parsed namespace,
so :func:`resolve_config` can layer them: defaults < config file < flags.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_config_arguments(p)
    >>> args = p.parse_args(["--epochs", "2", "--no-mp-init"])
    >>> sorted(given_options(args).items())
    [('epochs', 2), ('mp_init', False)]
    >>> cfg = resolve_config(args)
    >>> cfg.epochs, cfg.mp_init, cfg.surrogate
    (2, False, 'trsg')
"""

from __future__ import annotations

import argparse
from typing import Any

from .config import TrainConfig, load_config_file, option_fields

__all__ = ["add_config_arguments", "given_options", "resolve_config"]

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
    """Add ``--config FILE`` and one flag per config field (or only the fields in ``only``)."""
    defaults = TrainConfig()
    if config_file:
        parser.add_argument(
            "--config",
            metavar="FILE",
            default=None,
            help="YAML or TOML file of options (flags override it; default: none)",
        )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in option_fields():
        if only is not None and f.name not in only:
            continue
        meta = f.metadata
        group = groups.get(meta["group"])
        if group is None:
            group = groups[meta["group"]] = parser.add_argument_group(
                _GROUP_TITLES.get(meta["group"], meta["group"])
            )
        default = getattr(defaults, f.name)
        shown = default if default != "" else "''"
        kwargs: dict[str, Any] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,
            "help": f"{meta['help']} (default: {shown})",
        }
        flag = "--" + f.name.replace("_", "-")
        if meta["type"] is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kwargs["type"] = meta["type"]
        if meta["choices"]:
            kwargs["choices"] = meta["choices"]
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        group.add_argument(flag, **kwargs)


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields that were given on the command line, ``{name: value}``."""
    return {f.name: getattr(args, f.name) for f in option_fields() if hasattr(args, f.name)}


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
    from .config import normalise_keys
    from .recipes import recipe_values

    values = normalise_keys(values, source="options")
    name = values.get("recipe")
    if not name:
        return values
    return {**recipe_values(str(name)), **values}
