"""One process per run or search directory: an advisory lock held for the whole command.

Two processes on one directory (a second `--resume` while the first still trains, two searches
with one `--output`) would interleave their writes; the second one stops at once with one line that
names the process holding the directory. The lock is `flock` on `<dir>/.lock`: the kernel drops it
when the holder exits, even after kill -9, so a stale lock never blocks a resume.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
from pathlib import Path

from solutions.common.errors import UserError

LOCK_FILE = ".lock"


class DirectoryLock:
    """`with DirectoryLock(path, "run"):` holds `path` (which must exist) for this process."""

    def __init__(self, directory: Path, what: str = "directory"):
        self.path = Path(directory) / LOCK_FILE
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> "DirectoryLock":
        try:  # never through a link planted at .lock: truncating it would empty the file it names
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # renamed meanwhile: another process finished this run
            raise UserError(f"{self.path.parent} is gone: another process finished or moved it") from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise UserError(f"{self.path} is a symbolic link, not the kit's lock file; remove it") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:  # a hard link would be truncated like a symlink
            os.close(fd)
            raise UserError(f"{self.path} is not the kit's lock file (not a regular file of its own); remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.path.parent} is in use by process {holder} (a {self.what} in progress); "
                            "wait for it to end or stop it first") from None
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP):
                os.close(fd)
                raise
            # a file system without locks (some network mounts): go on, and say what is not guarded
            print(f"warning: {self.path.parent} cannot be locked here ({os.strerror(exc.errno)}); "
                  "make sure no other process uses it", file=sys.stderr, flush=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
