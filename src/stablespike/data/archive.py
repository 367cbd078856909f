"""Safe, atomic extraction of a ``.tar.gz`` archive holding one top-level folder.

Example:
    >>> extract_once("/data/cifar-10-python.tar.gz", "/data", "cifar-10-batches-py")  # doctest: +SKIP
    PosixPath('/data/cifar-10-batches-py')
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from .errors import DatasetError

__all__ = ["extract_once"]


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
        stablespike.data.errors.DatasetError: archive not found: /nonexistent.tar.gz
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    final = dest_dir / folder
    if final.is_dir():
        return final
    if not archive.is_file():
        raise DatasetError("archive not found", path=archive, expected=expected)
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".extracting", dir=dest_dir))
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")
        if not (tmp / folder).is_dir():
            raise DatasetError(
                f"archive has no top-level folder {folder!r}", path=archive, expected=expected
            )
        os.replace(tmp / folder, final)
    except (OSError, tarfile.TarError, EOFError) as err:
        raise DatasetError(
            f"cannot extract archive ({err})", path=archive, expected=expected
        ) from err
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
