"""Safe writes: every file cadet produces appears whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipelines.failures import error_chain


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed over `target`.

    The temporary file lives in the same directory so the rename is atomic on
    POSIX filesystems; on failure it is removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(target: Path | str, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_lines_atomic(target: Path | str, lines, newline: str = "\n") -> Path:
    """Write an iterable of strings (each without its newline) atomically."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        for chunk in _batched(lines, 100_000):
            out.write(newline.join(chunk))
            out.write(newline)
    return Path(target)


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


_FULL = {errno.ENOSPC, errno.EDQUOT}


def storage_problem(error: BaseException, home: Path) -> str | None:
    """A failure that is the disk's, not cadet's or the data's, said as such; None for anything else.

    Without this a full disk surfaced as hundreds of lines of SQLAlchemy
    traceback ending in "autoflush", which never says "disk full".
    """
    for link in error_chain(error):
        said = str(link).lower()
        where = getattr(link, "filename", None) or home
        writing = f" (writing {where})" if str(where) != str(home) else ""
        if (isinstance(link, OSError) and link.errno in _FULL) or "disk is full" in said or "no space left" in said:
            return (f"the disk holding {home} is full{writing}, {_free(home)} free: free some space (old report folders under "
                    f"{home}/reports can go), then run this again; what was written before is whole")
        if (isinstance(link, OSError) and link.errno == errno.EROFS) or "readonly database" in said \
                or "read-only file system" in said:
            return (f"{home} is on a read-only file system{writing}: remount it writable or pass a --home on a writable disk, "
                    "then run this again; what was written before is whole")
        if isinstance(link, PermissionError):
            return (f"permission denied on {where}: run cadet as a user who may read the logs and write the home, or "
                    "fix the permissions, then run this again")
    return None


def _free(home: Path) -> str:
    folder = Path(home)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return f"{shutil.disk_usage(folder).free / 1e6:,.1f} MB"
    except OSError:
        return "unknown space"


def write_probe(folder: Path, home: Path) -> str | None:
    """Try a small write where a failed step was writing: the storage problem it meets, or None."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return storage_problem(exc, home) or f"cannot write in {folder}: {exc}"
    return None
