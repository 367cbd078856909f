"""Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or not.

Layout: big-endian ``uint32`` magic ``0x0000TTNN`` (``TT`` = element type,
``0x08`` for uint8; ``NN`` = number of dimensions), then ``NN`` big-endian
``uint32`` sizes, then the data in C order. Images are ``0x00000803``
(``[N, rows, cols]``), labels ``0x00000801`` (``[N]``).

Example:
    >>> import numpy as np, tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_idx(os.path.join(d, "labels"), np.array([3, 1], dtype=np.uint8))
    ...     read_idx(os.path.join(d, "labels"), ndim=1).tolist()
    [3, 1]
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError

__all__ = ["read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
_UINT8 = 0x08
_LAYOUT = "IDX file: big-endian uint32 magic 0x0000080N (uint8, N dims), N uint32 sizes, data"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=f) as gz:
                return gz.read()
        return f.read()


def read_idx(path: str | os.PathLike[str], *, ndim: int) -> np.ndarray:
    """Read a uint8 IDX file (``.gz`` detected by content) with ``ndim`` dimensions.

    Raises :class:`DatasetError` naming ``path`` for unreadable, truncated or
    otherwise malformed files.

    Example:
        >>> read_idx("/nonexistent", ndim=1)
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: cannot read IDX file ([Errno 2] No such file or directory: '/nonexistent'): /nonexistent (expected layout: IDX file: big-endian uint32 magic 0x0000080N (uint8, N dims), N uint32 sizes, data)
    """
    path = Path(path)
    try:
        data = _read_bytes(path)
    except (OSError, EOFError) as err:
        raise DatasetError(f"cannot read IDX file ({err})", path=path, expected=_LAYOUT) from err
    if len(data) < 4:
        raise DatasetError("truncated IDX header", path=path, expected=_LAYOUT)
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _UINT8 or dims != ndim:
        raise DatasetError(
            f"bad IDX magic 0x{int.from_bytes(data[:4], 'big'):08x} "
            f"(want 0x{0x800 | ndim:08x}: uint8, {ndim} dims)",
            path=path,
            expected=_LAYOUT,
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError("truncated IDX header", path=path, expected=_LAYOUT)
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise DatasetError(
            f"IDX payload has {len(data) - header} bytes, header shape {shape} needs "
            f"{int(np.prod(shape))}",
            path=path,
            expected=_LAYOUT,
        )
    return np.frombuffer(bytearray(data), dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool = False) -> None:
    """Write a uint8 array as IDX (gzip-compressed if ``compress``); for tests and tools.

    Example:
        >>> import numpy as np, tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_idx(os.path.join(d, "x.gz"), np.ones((2, 3, 3), np.uint8), compress=True)
        ...     int(read_idx(os.path.join(d, "x.gz"), ndim=3).sum())
        18
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = struct.pack(f">HBB{array.ndim}I", 0, _UINT8, array.ndim, *array.shape)
    payload += array.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(payload, mtime=0) if compress else payload)
