"""Writing files so that a kill at any instant, a full disk or a second writer leaves either the
old file or the new one, never half of one; and never over a user's own file.

Every file a later step reads is written under a temporary name in the same directory and renamed
into place (atomic on POSIX); directories (a SavedModel) are written beside and swapped in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator


def unused_path(directory: Path, stem: str, suffix: str) -> Path:
    """`directory/stem+suffix`, or `stem-2`, `stem-3`, ... when taken; the name is reserved at once
    (created exclusively), so two inputs with one file name, or two processes, never share it."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = directory / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {stem}{suffix} in {directory}")


def temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A name beside `path` for writing it; `suffix` keeps endings Keras insists on (.weights.h5)."""
    stem = path.name[: -len(suffix)] if suffix and path.name.endswith(suffix) else path.name
    return path.with_name(f".{stem}.tmp-{os.getpid()}{suffix}")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8", "surrogateescape"))  # file names that are not UTF-8


def remove_tree(path: Path) -> None:
    """Remove a directory if it is there (a leftover of an interrupted write)."""
    shutil.rmtree(path, ignore_errors=True)


def write_bytes_atomic(path: str | os.PathLike, content: bytes) -> Path:
    """Write to a temporary sibling, flush it to disk, rename it over `path`."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def replace_directory(path: Path, write) -> Path:
    """Write a directory (`write(tmp_path)`) beside `path`, then swap it in.

    The old directory is renamed aside before the new one is renamed into place, and removed only
    after; a kill between the two renames leaves it as `.NAME.old-PID`, which `restore_directories`
    puts back. A failure while writing (a full disk, a converter error) leaves `path` untouched.
    """
    new = path.with_name(f".{path.name}.new-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    remove_tree(new)
    try:
        write(new)
    except BaseException:
        remove_tree(new)
        raise
    if path.exists():
        os.rename(path, old)
    os.rename(new, path)
    remove_tree(old)
    return path


def restore_directories(parent: Path) -> None:
    """Undo what a kill during `replace_directory` left: put an old directory back where no new one
    arrived, and drop half-written new ones."""
    for leftover in parent.glob(".*.old-*"):
        name = leftover.name[1:].rsplit(".old-", 1)[0]
        if not (parent / name).exists():
            os.rename(leftover, parent / name)
        else:
            remove_tree(leftover)
    for leftover in parent.glob(".*.new-*"):
        remove_tree(leftover)


SCRATCH_MARK = "-pid"
STALE_SCRATCH_SECONDS = 600


@contextlib.contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory (removed on exit) that a killed process does not leave behind for
    good: named with its PID, and the next one made removes those of processes that are gone
    (a SavedModel for conversion is megabytes; a preempted export once left one per kill).
    Only directories untouched for 10 minutes are removed, against a PID of another namespace."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{prefix}{SCRATCH_MARK}*-*"):
        try:
            pid = int(old.name[len(prefix) + len(SCRATCH_MARK):].split("-", 1)[0])
            stale = time.time() - old.lstat().st_mtime > STALE_SCRATCH_SECONDS
        except (ValueError, OSError):
            continue
        if stale and not old.is_symlink() and not _alive(pid):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{SCRATCH_MARK}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
