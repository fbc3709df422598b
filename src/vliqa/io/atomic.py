"""Atomic file writes: write beside the target under a temporary name, then rename over it.

A reader never sees a half-written file, and a failed write leaves neither a partial target nor the
temporary file. The rename (os.replace) is atomic on POSIX when both names are in one folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vliqa.errors import PermissionDeniedError
from vliqa.io.common import path_suffix

# mkstemp creates 0600 files; read the process umask once so written files get the usual permissions
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write to; on success it replaces `path`, on error it is removed.

    The temporary name keeps the target's suffix (e.g. '.nii.gz') so libraries that pick the format from
    the name write the right one.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{path_suffix(target)}", dir=folder)
    except PermissionError as exc:
        raise PermissionDeniedError(
            f"{target}: cannot write here ({exc.strerror})", path=target, hint="choose a folder you may write to"
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:  # flush to disk before the rename, so a crash cannot leave an empty target
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` atomically and gives the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Writes `text` to `path` atomically and gives the path."""
    return atomic_write_bytes(path, text.encode(encoding))
