"""Getting dataset files: checksummed atomic download (stdlib ``urllib``), safe extraction, the
cache root.

Example:
    >>> cache_root().name
    'stablespike'

**Extraction**: safe, atomic, of a ``.tar.gz`` archive holding one top-level folder.

Example:
    >>> extract_once("/data/cifar-10-python.tar.gz", "/data", "cifar-10-batches-py")  # doctest: +SKIP
    PosixPath('/data/cifar-10-batches-py')
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from ..core.errors import DatasetError
from ..core.fileio import atomic_path

__all__ = ["cache_root", "download_file", "extract_once"]


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


def extract_once(
    archive: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    folder: str,
    *,
    expected: str | None = None,
) -> Path:
    """Extract ``archive`` into ``dest_dir`` unless ``dest_dir/folder`` already exists.

    Extraction goes to a hidden temporary folder inside ``dest_dir`` that is
    renamed to ``dest_dir/folder`` only when complete, so an interrupted
    extraction is redone next time. Members are extracted with tarfile's
    ``"data"`` filter (no absolute paths, links out of the tree or devices).

    Example:
        >>> extract_once("/nonexistent.tar.gz", "/nonexistent", "cifar-10-batches-py")
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: archive not found: /nonexistent.tar.gz
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    final = dest_dir / folder
    if final.is_dir():
        return final
    if not archive.is_file():
        raise DatasetError("archive not found", path=archive, expected=expected)
    try:
        with atomic_path(final, tmp_name=f".{folder}.{os.getpid()}.extracting") as tmp:
            staging = tmp.with_name(tmp.name + "-all")  # the whole archive; its folder moves on
            try:
                with tarfile.open(archive, "r:*") as tar:
                    tar.extractall(staging, filter="data")
                if not (staging / folder).is_dir():
                    raise DatasetError(
                        f"archive has no top-level folder {folder!r}",
                        path=archive,
                        expected=expected,
                    )
                os.rename(staging / folder, tmp)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (OSError, tarfile.TarError, EOFError) as err:
        raise DatasetError(
            f"cannot extract archive ({err})", path=archive, expected=expected
        ) from err
    return final
