"""Options as dataclass fields: one mechanism behind every command's flags and config files.

A command's options are the fields of one dataclass, each declared with :func:`option` (its
default, help line, group, type, choices). From the fields come the flags (``batch_size`` ->
``--batch-size``; booleans get ``--x/--no-x``), the ``--help`` text with the defaults, the
checks of types and choices, and the reading of ``{name: value}`` mappings (config files,
checkpoints) with ``-`` or ``_`` in the names. Flags that were not given are absent from the
parsed namespace, so values can be layered: defaults < config file < flags.

The options that every command shares (:data:`RUNTIME`: ``--device``, ``--threads``,
``--data-dir``, ``--batch-size``, ``--out``, ``--json``) are declared once here
(:func:`device_option`, ...), so they are spelled, typed and explained the same everywhere.

Example:
    >>> import argparse
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Opts:
    ...     epochs: int = option(2, "training epochs", group="run")
    ...     fast: bool = option(False, "go fast", group="run")
    ...     device: str = device_option()
    >>> p = argparse.ArgumentParser()
    >>> add_options(p, Opts)
    >>> args = p.parse_args(["--epochs", "3", "--fast"])
    >>> given_options(args, Opts)
    {'epochs': 3, 'fast': True}
    >>> from_args(Opts, args)
    Opts(epochs=3, fast=True, device='auto')
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .errors import ConfigError

__all__ = [
    "DEVICES",
    "RUNTIME",
    "add_options",
    "batch_size_option",
    "check_values",
    "data_dir_option",
    "device_option",
    "from_args",
    "given_options",
    "json_option",
    "normalise_keys",
    "option",
    "option_fields",
    "out_option",
    "threads_option",
]

RUNTIME = "runtime"
"""The group of the options every command shares."""

_TITLES = {RUNTIME: "shared options (every command)"}

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
"""``--device`` choices; ``auto`` = cuda if available, else cpu."""

C = TypeVar("C")


def option(
    default: Any,
    help: str,
    *,
    group: str,
    type: type | None = None,
    choices: Sequence[str] | None = None,
    runtime: bool = False,
    metavar: str | None = None,
    aliases: tuple[str, ...] = (),
    minimum: float | None = None,
    flag: str | None = None,
    const: Any = None,
    many: bool = False,
    split: bool = True,
) -> Any:
    """A dataclass field that is also a command-line option.

    ``type`` defaults to the type of ``default`` (``bool``, ``int``, ``float``, ``str``); a
    ``None`` default (meaning "not given": the command decides) needs an explicit ``type``.
    ``choices`` are the allowed values (names kept in a registry are checked by the registry,
    whose message lists them). ``runtime`` marks an option that does not change results (a
    checkpoint records the others). ``aliases`` are further flags (kept for compatibility);
    ``minimum``: the smallest value allowed (``None`` passes where it is the default); ``flag``
    replaces the flag made from the field name. ``const``: the value of the flag given without one
    (``--anytime`` = ``--anytime confidence``). ``many``: a tuple of strings, given as
    comma-separated values or by repeating the flag (``--what layer,kernel`` =
    ``--what layer --what kernel``; ``split=False``: only by repeating it, for values that
    hold commas); ``choices`` then apply to each.
    """
    if many:
        type = str
    if type is None:
        type = _type_of(default)
    meta = {
        "help": help,
        "group": group,
        "type": type,
        "choices": choices,
        "runtime": runtime,
        "metavar": metavar,
        "aliases": aliases,
        "minimum": minimum,
        "flag": flag,
        "const": const,
        "many": many,
        "split": split,
    }
    return dataclasses.field(default=default, metadata=meta)


def _type_of(default: Any) -> type:
    for t in (bool, int, float, str):
        if isinstance(default, t):
            return t
    raise TypeError(f"option default {default!r} needs an explicit type")


def _choices(meta: Mapping[str, Any]) -> tuple[str, ...] | None:
    return tuple(meta["choices"]) if meta["choices"] else None


# ---------------------------------------------------------------- the shared runtime options
def device_option() -> Any:
    """``--device auto|cpu|cuda`` (default auto)."""
    return option(
        "auto", "device; auto = cuda if available, else cpu", group=RUNTIME, choices=DEVICES,
        runtime=True,
    )  # fmt: skip


def threads_option(
    help: str = "CPU threads for torch (0 = torch's default; another count can change the last "
    "bits of sums)",
) -> Any:
    """``--threads N`` (default 0 = torch's default; ``help`` for a command's own meaning)."""
    return option(0, help, group=RUNTIME, runtime=True, metavar="N", minimum=0)


def data_dir_option(default_text: str = "the dataset's default search path") -> Any:
    """``--data-dir DIR`` ('' = ``default_text``)."""
    return option(
        "", f"where the dataset files are ('' = {default_text})", group=RUNTIME, runtime=True,
        metavar="DIR",
    )  # fmt: skip


def batch_size_option(default: int | None, help: str, *, runtime: bool = True, **extra: Any) -> Any:
    """``--batch-size N``; ``default=None`` means "the command decides" (``help`` says how)."""
    return option(
        default, help, group=RUNTIME, type=int, runtime=runtime, metavar="N", minimum=1,
        **extra,
    )  # fmt: skip


def out_option(help: str, default: str = "", **extra: Any) -> Any:
    """``--out DIR``: the folder the command writes to (``help`` says what and the default)."""
    return option(default, help, group=RUNTIME, runtime=True, metavar="DIR", **extra)


def json_option() -> Any:
    """``--json FILE``: also write the command's result as one JSON document."""
    return option(
        "", "also write the result as one JSON document to FILE ('' = no)", group=RUNTIME,
        runtime=True, metavar="FILE",
    )  # fmt: skip


# ---------------------------------------------------------------- fields -> flags
def option_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    """The option fields of dataclass ``cls``, in declaration order (one flag each)."""
    return tuple(f for f in dataclasses.fields(cls) if "group" in f.metadata)


def flag_of(name: str) -> str:
    """``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    titles: Mapping[str, str] | None = None,
) -> None:
    """Add one flag per option field of ``cls`` (or only those in ``only``, minus ``skip``).

    Flags default to "not given" (absent from the namespace: see :func:`given_options`); the
    help line shows the field's default. ``titles`` names the argument groups (the shared
    options' group is titled already).
    """
    wanted = None if only is None else set(only)
    skipped = set(skip)
    defaults = cls()
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in option_fields(cls):
        if (wanted is not None and f.name not in wanted) or f.name in skipped:
            continue
        meta = f.metadata
        group = groups.get(meta["group"])
        if group is None:
            title = {**_TITLES, **(titles or {})}.get(meta["group"], meta["group"])
            group = groups[meta["group"]] = parser.add_argument_group(title)
        default = getattr(defaults, f.name)
        shown = "''" if default == "" else ("none" if default is None else default)
        kwargs: dict[str, Any] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,
            "help": f"{meta['help']} (default: {shown})",
        }
        flags = [meta.get("flag") or flag_of(f.name), *meta["aliases"]]
        if meta["type"] is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        choices = _choices(meta)
        if meta["many"]:
            kwargs.update(action=_Extend, type=_split if meta["split"] else _one)
            kwargs["metavar"] = meta["metavar"] or (
                "{" + ",".join(choices) + "}" if choices else None
            )
            group.add_argument(*flags, **kwargs)
            continue
        kwargs["type"] = meta["type"]
        if choices:
            kwargs["choices"] = choices
        if meta["const"] is not None:
            kwargs.update(nargs="?", const=meta["const"])
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        group.add_argument(*flags, **kwargs)


def _one(text: str) -> tuple[str, ...]:
    return (text.strip(),)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class _Extend(argparse.Action):
    """Repeated flags add to one tuple (argparse's "extend", starting empty, not at default)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, (*getattr(namespace, self.dest, ()), *values))


def given_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The option fields of ``cls`` given on the command line, ``{name: value}``."""
    return {f.name: getattr(args, f.name) for f in option_fields(cls) if hasattr(args, f.name)}


def from_args(cls: type[C], args: argparse.Namespace, base: Mapping[str, Any] | None = None) -> C:
    """``cls`` from its defaults, then ``base``, then the flags given; checked.

    Calls the instance's ``validate()`` when it has one, else :func:`check_values`.
    """
    values = {**normalise_keys(base or {}, cls, source="options"), **given_options(args, cls)}
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    return validate() if callable(validate) else check_values(obj)


# ---------------------------------------------------------------- checking values
def check_values(obj: C, *, flags: bool = False) -> C:
    """Check the type, choices and positivity of every option field; returns ``obj``.

    An ``int`` is accepted (and converted) where a ``float`` is wanted; ``None`` where the
    default is ``None``. Raises :class:`~stablespike.core.errors.ConfigError` naming the first
    bad value (as its flag, ``--batch-size``, with ``flags=True``).
    """
    for f in option_fields(type(obj)):
        name = flag_of(f.name) if flags else f.name
        value = getattr(obj, f.name)
        want = f.metadata["type"]
        if value is None and f.default is None:
            continue
        choices = _choices(f.metadata)
        if f.metadata["many"]:
            if isinstance(value, str):
                value = _split(value) if f.metadata["split"] else _one(value)
            if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{name} must be a list of strings, got {value!r}")
            bad = [v for v in value if choices and v not in choices]
            if bad:
                raise ConfigError(
                    f"{name}: {', '.join(map(repr, bad))} not among {', '.join(choices or ())}"
                )
            object.__setattr__(obj, f.name, tuple(value))
            continue
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(obj, f.name, float(value))  # frozen dataclasses too
            ok = True
        if not ok:
            raise ConfigError(
                f"{name} must be {want.__name__}, got {type(value).__name__} {value!r}"
            )
        if choices and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        low = f.metadata["minimum"]
        if low is not None and value < low:
            raise ConfigError(f"{name} must be >= {low:g}, got {value!r}")
    return obj


def normalise_keys(values: Mapping[str, Any], cls: type, *, source: str) -> dict[str, Any]:
    """``{"batch-size": 64}`` -> ``{"batch_size": 64}``; an unknown key raises ``ConfigError``."""
    known = {f.name for f in option_fields(cls)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).strip().replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{source}: unknown option {key!r}{hint}")
        out[name] = value
    return out
