"""Checksummed, atomic file download (stdlib ``urllib`` only) and the cache root.

Example:
    >>> cache_root().name
    'stablespike'
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..core.errors import DatasetError
from ..core.fileio import atomic_path

__all__ = ["cache_root", "download_file"]

_CHUNK = 1 << 20


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/stablespike``, defaulting to ``~/.cache/stablespike``.

    Example:
        >>> str(cache_root()).endswith("stablespike")
        True
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stablespike"


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None,
    timeout: float = 60.0,
    expected: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and verify its ``md5`` (hex digest).

    The bytes go to a hidden temporary file next to ``dest`` that is renamed
    onto ``dest`` only once complete and verified, so an interrupted or
    corrupt download never leaves a file at ``dest``. Failures raise
    :class:`DatasetError` naming ``dest``; ``expected`` describes the layout.

    Example:
        >>> download_file("http://127.0.0.1:9/x.gz", "/tmp/x.gz", md5=None)  # doctest: +SKIP
        PosixPath('/tmp/x.gz')
    """
    dest = Path(dest)
    try:
        with atomic_path(dest) as tmp:
            digest = hashlib.md5(usedforsecurity=False)
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while chunk := resp.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if md5 is not None and digest.hexdigest() != md5.lower():
                raise DatasetError(
                    f"checksum mismatch for {url} (md5 {digest.hexdigest()}, expected {md5}); "
                    "the file was discarded",
                    path=dest,
                    expected=expected,
                )
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise DatasetError(
            f"could not download {url} ({err})", path=dest, expected=expected
        ) from err
    return dest
