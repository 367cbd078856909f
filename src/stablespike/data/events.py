"""Integrate an event stream into ``T`` two-channel count frames.

Split modes (``N`` events, ``T`` frames, events in file order):

* ``"number"`` - SpikingJelly's ``split_by='number'``: frame ``k < T-1``
  holds events ``[k * (N // T), (k+1) * (N // T))`` and the last frame holds
  the rest (so it gets the ``N % T`` extra events).
* ``"time"`` - equal time windows over the recording's inclusive time span
  ``D = t_max - t_min + 1``: an event goes to frame
  ``floor((t - t_min) * T / D)``. (SpikingJelly uses windows of
  ``(t_max - t_min) // T`` microseconds and gives the remainder to the last
  frame; here every window has the same length ``D / T``.)

Channel 0 counts events of polarity 0, channel 1 of polarity 1. A recording
without events gives all-zero frames.

Example:
    >>> import numpy as np
    >>> from stablespike.data.aedat import Events
    >>> ev = Events(t=np.array([0, 1, 2, 3]), x=np.array([0, 1, 0, 1]),
    ...             y=np.zeros(4, np.int64), p=np.array([0, 1, 1, 0]))
    >>> events_to_frames(ev, time_steps=2, split_by="number", height=1, width=2).tolist()
    [[[[1, 0]], [[0, 1]]], [[[0, 1]], [[1, 0]]]]
"""

from __future__ import annotations

import numpy as np

from .aedat import Events

__all__ = ["SPLIT_MODES", "events_to_frames", "frame_indices"]

SPLIT_MODES = ("number", "time")


def frame_indices(t: np.ndarray, time_steps: int, split_by: str) -> np.ndarray:
    """The frame (``0..T-1``) of every event; see the module doc for the rules.

    Example:
        >>> import numpy as np
        >>> frame_indices(np.array([0, 10, 20, 29]), 3, "time").tolist()
        [0, 1, 2, 2]
    """
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    if split_by not in SPLIT_MODES:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
    n = t.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if split_by == "number":
        per_frame = n // time_steps
        if per_frame == 0:
            return np.full(n, time_steps - 1, dtype=np.int64)
        return np.minimum(np.arange(n, dtype=np.int64) // per_frame, time_steps - 1)
    t = t.astype(np.int64)
    t_min = int(t.min())
    span = int(t.max()) - t_min + 1
    return (t - t_min) * time_steps // span


def events_to_frames(
    events: Events, *, time_steps: int, split_by: str, height: int, width: int
) -> np.ndarray:
    """Count frames ``int64 [T, 2, height, width]`` from ``events``.

    Raises ``ValueError`` if a coordinate or polarity is out of range.

    Example:
        >>> import numpy as np
        >>> from stablespike.data.aedat import Events
        >>> ev = Events(t=np.array([5]), x=np.array([1]), y=np.array([0]), p=np.array([1]))
        >>> int(events_to_frames(ev, time_steps=1, split_by="time", height=2, width=2)[0, 1, 0, 1])
        1
    """
    frame = frame_indices(events.t, time_steps, split_by)
    x, y, p = (np.asarray(a, dtype=np.int64) for a in (events.x, events.y, events.p))
    if len(events) and (
        x.min() < 0
        or x.max() >= width
        or y.min() < 0
        or y.max() >= height
        or p.min() < 0
        or p.max() > 1
    ):
        raise ValueError(f"event coordinates outside a {height}x{width} sensor or polarity not 0/1")
    flat = ((frame * 2 + p) * height + y) * width + x
    counts = np.bincount(flat, minlength=time_steps * 2 * height * width)
    return counts.reshape(time_steps, 2, height, width)
