"""AEDAT 2.0 reader and DVS128 address decoding (CIFAR10-DVS recordings).

AEDAT 2.0 file: ASCII header lines starting with ``#`` (the first one is
``#!AER-DAT2.0``), each ending in ``\\n``; then 8-byte big-endian records
``uint32 address, uint32 timestamp`` (microseconds).

DVS128 address bits (jAER): bit 0 = polarity, bits 1-7 = x, bits 8-14 = y.
With ``orientation="spikingjelly"`` (default) the events are returned the way
SpikingJelly's ``CIFAR10DVS`` loader does (and so the frames models are
usually trained on): ``x = 127 - y_raw``, ``y = 127 - x_raw``,
``p = 1 - p_raw``. ``orientation="raw"`` returns the raw fields unchanged.
Like SpikingJelly, no event is filtered out (bit 15, the DVS128 "external
event" flag, is ignored).

Example:
    >>> import numpy as np
    >>> ev = decode_dvs128(np.array([(5 << 8) | (3 << 1) | 1], np.uint32), np.array([7]), "raw")
    >>> int(ev.x[0]), int(ev.y[0]), int(ev.p[0]), int(ev.t[0])
    (3, 5, 1, 7)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError

__all__ = ["ORIENTATIONS", "Events", "decode_dvs128", "read_aedat2", "write_aedat2"]

ORIENTATIONS = ("spikingjelly", "raw")
SENSOR_SIZE = 128
_VERSION_LINE = b"#!AER-DAT"
LAYOUT = (
    "AEDAT 2.0: '#'-prefixed ASCII header lines starting with '#!AER-DAT2.0', "
    "then big-endian (uint32 address, uint32 timestamp) records"
)


@dataclass(frozen=True)
class Events:
    """Decoded events: int64 arrays of equal length (timestamps in microseconds)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


def read_aedat2(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Raw ``(addresses uint32 [N], timestamps int64 [N])`` of an AEDAT 2.0 file.

    Example:
        >>> read_aedat2("/nonexistent.aedat")
        Traceback (most recent call last):
        ...
        stablespike.data.errors.DatasetError: cannot read AEDAT file ([Errno 2] No such file or directory: '/nonexistent.aedat'): /nonexistent.aedat (expected layout: AEDAT 2.0: '#'-prefixed ASCII header lines starting with '#!AER-DAT2.0', then big-endian (uint32 address, uint32 timestamp) records)
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"cannot read AEDAT file ({err})", path=path, expected=LAYOUT) from err
    if not data.startswith(_VERSION_LINE):
        raise DatasetError("missing '#!AER-DAT' version line", path=path, expected=LAYOUT)
    pos = 0
    while pos < len(data) and data[pos : pos + 1] == b"#":
        end = data.find(b"\n", pos)
        if end < 0:
            raise DatasetError("unterminated header line", path=path, expected=LAYOUT)
        line = data[pos:end].strip()
        if line.startswith(_VERSION_LINE) and not line[len(_VERSION_LINE) :].startswith(b"2."):
            raise DatasetError(
                f"unsupported AEDAT version {line.decode(errors='replace')!r}",
                path=path,
                expected=LAYOUT,
            )
        pos = end + 1
    body = len(data) - pos
    if body % 8:
        raise DatasetError(
            f"{body} bytes of events is not a multiple of 8 (truncated file?)",
            path=path,
            expected=LAYOUT,
        )
    records = np.frombuffer(data, dtype=">u4", offset=pos).reshape(-1, 2)
    return records[:, 0].astype(np.uint32), records[:, 1].astype(np.int64)


def decode_dvs128(addresses: np.ndarray, timestamps: np.ndarray, orientation: str) -> Events:
    """Split DVS128 addresses into ``x, y, p`` (see the module doc for ``orientation``).

    Example:
        >>> import numpy as np
        >>> ev = decode_dvs128(np.array([(5 << 8) | (3 << 1) | 1], np.uint32), np.array([7]), "spikingjelly")
        >>> int(ev.x[0]), int(ev.y[0]), int(ev.p[0])
        (122, 124, 0)
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    addr = addresses.astype(np.int64)
    p = addr & 1
    x = (addr >> 1) & 0x7F
    y = (addr >> 8) & 0x7F
    t = np.asarray(timestamps, dtype=np.int64)
    if orientation == "spikingjelly":
        top = SENSOR_SIZE - 1
        return Events(t=t, x=top - y, y=top - x, p=1 - p)
    return Events(t=t, x=x, y=y, p=p)


def write_aedat2(
    path: str | os.PathLike[str],
    addresses: np.ndarray,
    timestamps: np.ndarray,
    header: tuple[str, ...] = ("#!AER-DAT2.0", "# This is a raw AE data file"),
) -> None:
    """Write an AEDAT 2.0 file (header lines end in CRLF as jAER writes them); for tests and tools.

    Example:
        >>> import numpy as np, tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_aedat2(os.path.join(d, "a.aedat"), np.array([3]), np.array([7]))
        ...     read_aedat2(os.path.join(d, "a.aedat"))[1].tolist()
        [7]
    """
    records = np.stack([np.asarray(addresses), np.asarray(timestamps)], axis=1).astype(">u4")
    with open(path, "wb") as f:
        f.write("".join(line + "\r\n" for line in header).encode("ascii"))
        f.write(records.tobytes())
