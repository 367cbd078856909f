"""AEDAT 2.0 and 3.1 readers and DVS128 address decoding (CIFAR10-DVS, DVS128 Gesture).

Header (both versions): ASCII lines starting with ``#``, each ending in ``\\n``; one of them is
the version line ``#!AER-DAT2.0`` / ``#!AER-DAT3.1`` (comment lines may come before it, as
SpikingJelly and jAER accept); AEDAT 3.1 headers end with ``#!END-HEADER``.

AEDAT 2.0 body: 8-byte big-endian records ``uint32 address, uint32 timestamp`` (microseconds).

AEDAT 3.1 body (cAER / jAER 3): packets, each a 28-byte little-endian header ``int16 eventType,
int16 eventSource, int32 eventSize, int32 eventTSOffset, int32 eventTSOverflow, int32
eventCapacity, int32 eventNumber, int32 eventValid`` followed by ``eventCapacity * eventSize``
bytes of events. Only polarity packets (``eventType == 1``, 8-byte events ``uint32 data, int32
timestamp``) are read; other packets are skipped. Polarity ``data``: bit 0 valid mark (events
without it are dropped), bit 1 polarity, bits 2-16 ``y``, bits 17-31 ``x``; the timestamp is
``eventTSOverflow << 31 | timestamp`` (microseconds).

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

from ..core.errors import DatasetError

__all__ = [
    "ORIENTATIONS",
    "Events",
    "aedat_version",
    "decode_dvs128",
    "read_aedat2",
    "read_aedat31",
    "read_dvs128",
    "write_aedat2",
    "write_aedat31",
]

ORIENTATIONS = ("spikingjelly", "raw")
SENSOR_SIZE = 128
_VERSION_LINE = b"#!AER-DAT"
LAYOUT = (
    "AEDAT 2.0: '#'-prefixed ASCII header lines including '#!AER-DAT2.0', "
    "then big-endian (uint32 address, uint32 timestamp) records"
)
LAYOUT31 = (
    "AEDAT 3.1: '#'-prefixed ASCII header lines including '#!AER-DAT3.1' and ending with "
    "'#!END-HEADER', then packets (28-byte little-endian header + events)"
)
_END_HEADER = b"#!END-HEADER"
_POLARITY_EVENT = 1
_PACKET_HEADER = np.dtype(
    [("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
     ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")]
)  # fmt: skip


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
        stablespike.core.errors.DatasetError: cannot read AEDAT file ([Errno 2] No such file or directory: '/nonexistent.aedat'): /nonexistent.aedat (expected layout: AEDAT 2.0: '#'-prefixed ASCII header lines including '#!AER-DAT2.0', then big-endian (uint32 address, uint32 timestamp) records)
    """
    path = Path(path)
    data = _read(path, LAYOUT)
    version, pos = _header(data, path, LAYOUT)
    if not version.startswith("2."):
        raise DatasetError(
            f"unsupported AEDAT version {version!r} for this reader", path=path, expected=LAYOUT
        )
    body = len(data) - pos
    if body % 8:
        raise DatasetError(
            f"{body} bytes of events is not a multiple of 8 (truncated file?)",
            path=path,
            expected=LAYOUT,
        )
    records = np.frombuffer(data, dtype=">u4", offset=pos).reshape(-1, 2)
    return records[:, 0].astype(np.uint32), records[:, 1].astype(np.int64)


def _read(path: Path, layout: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DatasetError(f"cannot read AEDAT file ({err})", path=path, expected=layout) from err


def _header(data: bytes, path: Path, layout: str) -> tuple[str, int]:
    """``(version, offset of the body)``: the '#' lines, wherever the version line is among them."""
    pos, version = 0, None
    while pos < len(data) and data[pos : pos + 1] == b"#":
        end = data.find(b"\n", pos)
        if end < 0:
            raise DatasetError("unterminated header line", path=path, expected=layout)
        line = data[pos:end].strip()
        pos = end + 1
        if line.startswith(_VERSION_LINE) and version is None:
            version = line[len(_VERSION_LINE) :].decode(errors="replace")
        if line.startswith(_END_HEADER):
            break
    if version is None:
        raise DatasetError("missing '#!AER-DAT' version line", path=path, expected=layout)
    return version, pos


def aedat_version(path: str | os.PathLike[str]) -> str:
    """The version of an AEDAT file from its header (``"2.0"``, ``"3.1"``).

    Example:
        >>> import numpy as np, tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_aedat31(os.path.join(d, "a.aedat"), *np.zeros((4, 1), np.int64))
        ...     aedat_version(os.path.join(d, "a.aedat"))
        '3.1'
    """
    path = Path(path)
    return _header(_read(path, LAYOUT31), path, LAYOUT31)[0]


def read_aedat31(path: str | os.PathLike[str]) -> Events:
    """The valid polarity events of an AEDAT 3.1 file, raw fields (``x``, ``y`` as recorded).

    Example:
        >>> import numpy as np, tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = os.path.join(d, "a.aedat")
        ...     write_aedat31(f, np.array([3]), np.array([5]), np.array([1]), np.array([7]))
        ...     ev = read_aedat31(f)
        >>> int(ev.x[0]), int(ev.y[0]), int(ev.p[0]), int(ev.t[0])
        (3, 5, 1, 7)
    """
    path = Path(path)
    data = _read(path, LAYOUT31)
    version, pos = _header(data, path, LAYOUT31)
    if not version.startswith("3."):
        raise DatasetError(
            f"unsupported AEDAT version {version!r} for this reader", path=path, expected=LAYOUT31
        )
    parts: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    size = _PACKET_HEADER.itemsize
    while pos < len(data):
        if len(data) - pos < size:
            raise DatasetError(
                f"truncated packet header at byte {pos}", path=path, expected=LAYOUT31
            )
        head = np.frombuffer(data, _PACKET_HEADER, count=1, offset=pos)[0]
        pos += size
        body = int(head["capacity"]) * int(head["size"])
        if body < 0 or pos + body > len(data):
            raise DatasetError(
                f"packet at byte {pos - size} claims {body} bytes, {len(data) - pos} left "
                "(truncated file?)",
                path=path,
                expected=LAYOUT31,
            )
        if int(head["type"]) == _POLARITY_EVENT:
            if int(head["size"]) != 8:
                raise DatasetError(
                    f"polarity events of {int(head['size'])} bytes (expected 8)",
                    path=path,
                    expected=LAYOUT31,
                )
            events = np.frombuffer(data, "<u4", count=2 * int(head["capacity"]), offset=pos)
            word, ts = events[0::2], events[1::2].astype(np.int64) & 0x7FFFFFFF
            keep = (word & 1) == 1
            parts.append(word[keep])
            stamps.append(ts[keep] | (np.int64(int(head["ts_overflow"])) << 31))
        pos += body
    word = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    t = np.concatenate(stamps) if stamps else np.zeros(0, np.int64)
    return Events(t=t, x=(word >> 17) & 0x7FFF, y=(word >> 2) & 0x7FFF, p=(word >> 1) & 1)


def write_aedat31(
    path: str | os.PathLike[str],
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    t: np.ndarray,
    *,
    packet_events: int = 4096,
    header: tuple[str, ...] = ("#!AER-DAT3.1", "#Format: RAW", "#Source 1: DVS128"),
) -> None:
    """Write polarity events as an AEDAT 3.1 file (packets of ``packet_events``); for tests and tools.

    ``t`` above ``2**31 - 1`` microseconds goes into the packets' ``eventTSOverflow``; a packet
    never spans two overflow periods.
    """
    x, y, p, t = (np.asarray(a, dtype=np.int64) for a in (x, y, p, t))
    word = (x << 17) | (y << 2) | (p << 1) | 1
    chunks: list[bytes] = []
    start = 0
    while start < len(t):
        overflow = int(t[start]) >> 31
        stop = start + 1
        while stop < len(t) and stop - start < packet_events and int(t[stop]) >> 31 == overflow:
            stop += 1
        n = stop - start
        head = np.array([(1, 1, 8, 4, overflow, n, n, n)], _PACKET_HEADER)
        body = np.empty(2 * n, "<u4")
        body[0::2] = word[start:stop]
        body[1::2] = t[start:stop] & 0x7FFFFFFF
        chunks += [head.tobytes(), body.tobytes()]
        start = stop
    with open(path, "wb") as f:
        f.write("".join(line + "\r\n" for line in (*header, "#!END-HEADER")).encode("ascii"))
        f.write(b"".join(chunks))


def read_dvs128(path: str | os.PathLike[str], orientation: str = "spikingjelly") -> Events:
    """DVS128 events of an AEDAT 2.0 or 3.1 file (version from the header), oriented.

    AEDAT 2.0 addresses are decoded by :func:`decode_dvs128`; the ``x``, ``y`` and polarity fields
    of AEDAT 3.1 polarity events are taken as the raw fields of the same orientation rule.
    """
    path = Path(path)
    if aedat_version(path).startswith("3."):
        ev = read_aedat31(path)
        return _oriented(ev.t, ev.x, ev.y, ev.p, orientation)
    return decode_dvs128(*read_aedat2(path), orientation)


def _oriented(
    t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, orientation: str
) -> Events:
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    if orientation == "spikingjelly":
        top = SENSOR_SIZE - 1
        return Events(t=t, x=top - y, y=top - x, p=1 - p)
    return Events(t=t, x=x, y=y, p=p)


def decode_dvs128(addresses: np.ndarray, timestamps: np.ndarray, orientation: str) -> Events:
    """Split DVS128 addresses into ``x, y, p`` (see the module doc for ``orientation``).

    Example:
        >>> import numpy as np
        >>> ev = decode_dvs128(np.array([(5 << 8) | (3 << 1) | 1], np.uint32), np.array([7]), "spikingjelly")
        >>> int(ev.x[0]), int(ev.y[0]), int(ev.p[0])
        (122, 124, 0)
    """
    addr = addresses.astype(np.int64)
    p = addr & 1
    x = (addr >> 1) & 0x7F
    y = (addr >> 8) & 0x7F
    return _oriented(np.asarray(timestamps, dtype=np.int64), x, y, p, orientation)


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
