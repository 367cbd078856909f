"""Graceful stop on SIGTERM / SIGINT: finish the step, write ``last.pt``, say how to resume.

Schedulers, ``torchrun`` and preemption send SIGTERM; Ctrl-C sends SIGINT. While a run trains,
:class:`StopSignals` catches the first of them and only notes it; the training loop asks
:meth:`StopSignals.requested` after every step and, when it answers with a signal, writes
``last.pt`` and stops with :class:`~stablespike.core.errors.StopRequested` (exit status
128 + signal: 143 / 130). A second signal stops at once (:class:`~stablespike.core.errors.StopNow`,
no checkpoint). Under DDP every rank asks every step through an all-reduce (the largest signal
number wins), so all ranks stop after the same step and write one consistent checkpoint.

Example:
    >>> import os, signal
    >>> with StopSignals(announce=False) as stop:
    ...     os.kill(os.getpid(), signal.SIGTERM)
    ...     stop.requested() == signal.SIGTERM
    True
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from ..core.errors import StopNow
from .distributed import DistContext, max_rank

__all__ = ["STOP_SIGNALS", "StopSignals", "signal_name"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15 and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """Catch SIGTERM / SIGINT for the duration of a ``with`` block (main thread only).

    ``announce`` writes one line to stderr when the first signal arrives (rank 0 only under DDP).
    Outside the main thread (where Python cannot install handlers) nothing is caught.
    """

    def __init__(self, *, announce: bool = True) -> None:
        self.announce = announce
        self.signum = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal_name(signum)
        if self.signum:
            raise StopNow(
                f"stopped at once by a second signal ({name}); the work since the last "
                "checkpoint is lost",
                128 + signum,
            )
        self.signum = signum
        if self.announce:  # os.write: print() may be in the middle of a write when this runs
            os.write(
                2,
                f"\nstablespike: {name} received: finishing the current step and writing "
                f"last.pt (send it again to stop at once)\n".encode(),
            )

    def requested(self, ctx: DistContext | None = None) -> int:
        """The signal to stop for (0 = go on); a collective under DDP: call it on every rank."""
        if ctx is not None and ctx.distributed:
            return max_rank(self.signum, ctx)
        return self.signum
