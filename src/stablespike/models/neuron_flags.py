"""Turning the ablation flags of docs/METHOD.md §5.1 into ``neuron_kwargs`` for :func:`build_model`.

``--surrogate trsg|as|rs``, ``--no-mp-init`` and ``--learn tau,threshold|tau|threshold|none``
map one-to-one onto ``TrLIF`` options, so every ablation is one flag away.

Example:
    >>> from stablespike.models import neuron_kwargs_from_flags
    >>> neuron_kwargs_from_flags(surrogate="as", mp_init=False, learn="threshold")
    {'surrogate': 'as', 'mp_init': False, 'learn_tau': False, 'learn_threshold': True}
"""

from __future__ import annotations

from typing import Any

from ..functional.surrogate import check_surrogate

LEARNABLE: tuple[str, ...] = ("tau", "threshold")
"""The per-layer LIF parameters that ``--learn`` can make trainable."""


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
    """The ``neuron_kwargs`` for one choice of the ablation flags (``extra`` is passed through)."""
    return {
        "surrogate": check_surrogate(surrogate),
        "mp_init": bool(mp_init),
        **parse_learn(learn),
        **extra,
    }
