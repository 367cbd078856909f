"""Safe, atomic extraction of a ``.tar.gz`` archive holding one top-level folder.

Example:
    >>> extract_once("/data/cifar-10-python.tar.gz", "/data", "cifar-10-batches-py")  # doctest: +SKIP
    PosixPath('/data/cifar-10-batches-py')
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from ..core.errors import DatasetError
from ..core.fileio import atomic_path

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
