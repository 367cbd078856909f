"""What a user watches: a progress bar per epoch and a one-line summary per epoch.

The bar (``tqdm`` when installed) shows loss, accuracy, throughput and the ETA; it is drawn on
stderr, by rank 0 only, and by default only when stderr is a terminal. The epoch line goes to
stdout always (rank 0).

Example:
    >>> print(epoch_line(epoch=1, epochs=4, train_loss=0.52, train_acc=81.25, test_loss=0.41,
    ...                  test_acc_per_t=[84.0, 86.5], lr=1e-3, seconds=61.2, images_per_s=980.4))
    epoch 1/4 | train loss 0.5200 acc 81.25% | test loss 0.4100 acc 86.50% (t=1..2: 84.00 86.50) | lr 0.001 | 61.2 s, 980 img/s
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["EpochProgress", "epoch_line", "progress_enabled"]


def progress_enabled(setting: str, is_main: bool) -> bool:
    """``on``/``off``/``auto`` (= stderr is a terminal) for rank 0; never on other ranks."""
    if not is_main or setting == "off":
        return False
    return setting == "on" or sys.stderr.isatty()


class EpochProgress:
    """Progress bar over one epoch's steps (a no-op when disabled or ``tqdm`` is missing)."""

    def __init__(
        self, *, epoch: int, epochs: int, total: int, initial: int = 0, enabled: bool = True
    ) -> None:
        self.start = time.perf_counter()
        self.images = 0
        self.bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # optional: the epoch line still reports everything
                return
            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=f"epoch {epoch}/{epochs}",
                unit="step",
                leave=False,
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def update(self, images: int, loss: float, acc: float) -> None:
        """One step done: ``images`` samples (all ranks), its running loss and accuracy."""
        self.images += images
        if self.bar is None:
            return
        rate = self.images / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"loss {loss:.4f} acc {acc:.2f}% {rate:.0f} img/s", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def epoch_line(
    *,
    epoch: int,
    epochs: int,
    train_loss: float,
    train_acc: float,
    test_loss: float | None,
    test_acc_per_t: list[float] | None,
    lr: float,
    seconds: float,
    images_per_s: float,
) -> str:
    """The one-line summary printed after every epoch."""
    parts = [f"epoch {epoch}/{epochs}", f"train loss {train_loss:.4f} acc {train_acc:.2f}%"]
    if test_acc_per_t:
        per_t = " ".join(f"{a:.2f}" for a in test_acc_per_t)
        parts.append(
            f"test loss {test_loss:.4f} acc {test_acc_per_t[-1]:.2f}% "
            f"(t=1..{len(test_acc_per_t)}: {per_t})"
        )
    parts.append(f"lr {lr:.4g}")
    parts.append(f"{seconds:.1f} s, {images_per_s:.0f} img/s")
    return " | ".join(parts)
