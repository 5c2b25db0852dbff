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


SCRATCH_LOCK = ".in-use"
STALE_SCRATCH_SECONDS = 600


@contextlib.contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory (removed on exit) that a killed process does not leave behind for
    good (a SavedModel for conversion is megabytes; a preempted export once left one per kill).
    Its owner holds an flock on a file inside while it works; the next one made removes those
    whose lock is free (the kernel drops it when a process dies, whatever its PID namespace) and
    that are older than 10 minutes (the lock file is made just after the directory)."""
    import fcntl

    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{prefix}-*"):
        try:
            if old.is_symlink() or not old.is_dir() or time.time() - old.lstat().st_mtime < STALE_SCRATCH_SECONDS:
                continue
            fd = os.open(old / SCRATCH_LOCK, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:  # no lock file (not ours, or made before the lock): left alone
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its owner is still at work
            os.close(fd)
            continue
        shutil.rmtree(old, ignore_errors=True)
        os.close(fd)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    fd = os.open(path / SCRATCH_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
