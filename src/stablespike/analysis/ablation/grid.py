"""The cells of the paper's ablation (docs/METHOD.md §5.1) and the tables they belong to.

A :class:`Cell` is one training configuration (the neuron options that differ from the default
run). Three groups of rows use them:

* ``components``: baseline (AS-SG, ``U[0] = 0``) / +MP-Init / +TrSG / MP-Init + TrSG;
* ``learned``: MP-Init + TrSG learning neither / ``tau`` / ``Vthr`` / both;
* ``threshold``: frozen ``Vthr`` in ``thresholds`` for AS-SG, RS-SG and TrSG, soft and hard
  reset (MP-Init on, ``tau`` learned, so only the surrogate, the reset and ``Vthr`` vary).

``tau`` and ``Vthr`` start at 2.0 and 1.0 and both are learned unless a row says otherwise. Rows
of different groups that describe the same configuration share one cell (it is trained once), so
the default grid has 4 + 3 + 30 - 1 = 36 distinct cells.

Example:
    >>> rows = ablation_rows(thresholds=(0.5, 2.0))
    >>> len(rows), len(distinct_cells(rows))
    (20, 19)
    >>> rows[0].label, rows[0].cell.key()
    ('baseline (AS-SG, U0=0)', 'as-nomp-learn_tau+threshold-vth1-soft')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GROUPS = ("components", "learned", "threshold")
DEFAULT_THRESHOLDS = (0.1, 0.5, 1.0, 1.5, 2.0)
SURROGATE_NAMES = {"as": "AS-SG", "rs": "RS-SG", "trsg": "TrSG"}


@dataclass(frozen=True)
class Cell:
    """The neuron options of one ablation cell (everything else is the grid's setting)."""

    surrogate: str = "trsg"
    mp_init: bool = True
    learn: str = "tau,threshold"
    init_threshold: float = 1.0
    reset: str = "soft"

    def key(self) -> str:
        """A file-name-safe identifier, e.g. ``trsg-mp-learn_tau-vth0.5-hard``."""
        mp = "mp" if self.mp_init else "nomp"
        learn = self.learn.replace(",", "+")
        return f"{self.surrogate}-{mp}-learn_{learn}-vth{self.init_threshold:g}-{self.reset}"

    def overrides(self) -> dict[str, Any]:
        """The :class:`~stablespike.train.TrainConfig` fields this cell sets."""
        return {
            "surrogate": self.surrogate,
            "mp_init": self.mp_init,
            "learn": self.learn,
            "init_threshold": float(self.init_threshold),
            "reset": self.reset,
        }


@dataclass(frozen=True)
class Row:
    """One row of an ablation table: ``group``, its ``label``, optional ``column``, the cell."""

    group: str
    label: str
    cell: Cell
    column: float | None = None


def ablation_rows(
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS, groups: Sequence[str] = GROUPS
) -> list[Row]:
    """Every table row of the requested ``groups`` (see the module docs)."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown ablation group(s) {unknown}; expected some of {GROUPS}")
    if any(not v > 0 for v in thresholds):
        raise ValueError(f"thresholds must all be > 0, got {list(thresholds)}")
    rows: list[Row] = []
    if "components" in groups:
        rows += [
            Row("components", "baseline (AS-SG, U0=0)", Cell("as", False)),
            Row("components", "+MP-Init", Cell("as", True)),
            Row("components", "+TrSG", Cell("trsg", False)),
            Row("components", "MP-Init + TrSG", Cell("trsg", True)),
        ]
    if "learned" in groups:
        for label, learn in (
            ("neither", "none"),
            ("tau only", "tau"),
            ("Vthr only", "threshold"),
            ("both", "tau,threshold"),
        ):
            rows.append(Row("learned", label, Cell("trsg", True, learn)))
    if "threshold" in groups:
        for surrogate in ("as", "rs", "trsg"):
            for reset in ("soft", "hard"):
                label = f"{SURROGATE_NAMES[surrogate]}, {reset} reset"
                for v in thresholds:
                    cell = Cell(surrogate, True, "tau", float(v), reset)
                    rows.append(Row("threshold", label, cell, float(v)))
    return rows


def distinct_cells(rows: Sequence[Row]) -> list[Cell]:
    """The cells of ``rows`` without repetition, in first-use order."""
    return list(dict.fromkeys(row.cell for row in rows))
