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

Events come as :class:`~stablespike.data.aedat.Events` or, as tonic gives them, a NumPy
structured array with fields ``x``, ``y``, ``t``, ``p`` (any order, ``p`` may be bool); the sensor
is ``height, width`` or tonic's ``sensor_size = (width, height, polarities)``.

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

__all__ = ["SPLIT_MODES", "as_events", "events_to_frames", "frame_indices", "sensor_hw"]

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


def as_events(events: Events | np.ndarray) -> Events:
    """``Events`` from ``Events`` or a structured array with fields ``x, y, t, p`` (tonic's).

    Example:
        >>> import numpy as np
        >>> arr = np.zeros(2, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
        >>> arr["p"] = [True, False]
        >>> as_events(arr).p.tolist()
        [1, 0]
    """
    if isinstance(events, Events):
        return events
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not names or not {"x", "y", "t", "p"} <= set(names):
        raise TypeError(
            "events must be stablespike Events or a structured array with fields x, y, t, p "
            f"(tonic's layout), got {type(events).__name__} with fields {names}"
        )
    return Events(*(np.asarray(events[k]).astype(np.int64) for k in ("t", "x", "y", "p")))


def sensor_hw(
    height: int | None = None,
    width: int | None = None,
    sensor_size: tuple[int, ...] | None = None,
) -> tuple[int, int]:
    """``(height, width)`` from ``height, width`` or tonic's ``sensor_size = (W, H, P)``.

    Example:
        >>> sensor_hw(sensor_size=(34, 34, 2)), sensor_hw(180, 240)
        ((34, 34), (180, 240))
    """
    if sensor_size is not None:
        if height is not None or width is not None:
            raise ValueError("give either height and width or sensor_size, not both")
        if len(sensor_size) not in (2, 3) or (
            len(sensor_size) == 3 and sensor_size[2] not in (1, 2)
        ):
            raise ValueError(
                f"sensor_size must be (width, height[, polarities]), got {sensor_size}"
            )
        return int(sensor_size[1]), int(sensor_size[0])
    if height is None or width is None:
        raise ValueError("events_to_frames needs height and width (or tonic's sensor_size)")
    return int(height), int(width)


def events_to_frames(
    events: Events | np.ndarray,
    *,
    time_steps: int,
    split_by: str,
    height: int | None = None,
    width: int | None = None,
    sensor_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Count frames ``int64 [T, 2, height, width]`` from ``events`` (see the module doc).

    Raises ``ValueError`` if a coordinate or polarity is out of range.

    Example:
        >>> import numpy as np
        >>> from stablespike.data.aedat import Events
        >>> ev = Events(t=np.array([5]), x=np.array([1]), y=np.array([0]), p=np.array([1]))
        >>> int(events_to_frames(ev, time_steps=1, split_by="time", height=2, width=2)[0, 1, 0, 1])
        1
    """
    height, width = sensor_hw(height, width, sensor_size)
    events = as_events(events)
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
