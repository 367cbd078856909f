"""The paper's ablation numbers (docs/METHOD.md §5.4), to print beside the measured ones.

Top-1 % on CIFAR-100 (ResNet-19, T = 4) unless noted; ``None`` where the paper reports
divergence; thresholds the paper did not list are absent.

Example:
    >>> SWEEP[("as", 2.0)], SWEEP[("rs", 0.1)]
    (18.09, None)
"""

from __future__ import annotations

COMPONENTS: dict[str, tuple[float, float]] = {
    "baseline (AS-SG, U0=0)": (75.55, 76.60),
    "+MP-Init": (76.09, 77.37),
    "+TrSG": (77.15, 80.83),
    "MP-Init + TrSG": (77.66, 81.43),
}
"""Row label -> (CIFAR-100 T=4, DVS-CIFAR10 T=10)."""

LEARNED: dict[str, float] = {"neither": 75.56, "tau only": 74.61, "Vthr only": 76.98, "both": 77.22}
"""Which LIF parameters are learned -> CIFAR-100 T=4."""

SWEEP: dict[tuple[str, float], float | None] = {
    ("as", 0.1): 61.59, ("as", 0.5): 75.96, ("as", 1.5): 69.97, ("as", 2.0): 18.09,
    ("rs", 0.1): None, ("rs", 0.5): 76.12, ("rs", 1.5): 71.43, ("rs", 2.0): 5.43,
    ("trsg", 0.1): 73.99, ("trsg", 0.5): 76.82, ("trsg", 1.5): 71.97, ("trsg", 2.0): 64.27,
}  # fmt: skip
"""(surrogate, frozen Vthr) -> CIFAR-100 accuracy with soft reset (None: diverged)."""

GRAD_AT_2: dict[str, tuple[float, float, float]] = {
    "as": (0.0, 0.0, 0.0),
    "rs": (0.0021, 0.0010, 2.247),
    "trsg": (0.0323, 0.0690, 0.731),
}
"""Surrogate -> (AbsStr, RatioAG as a fraction, GradCV) at Vthr = 2.0."""
