"""Where named datasets live: the data directory, the cache, and checksummed downloads.

Lookup order for the data directory: `--data-dir`, then `$SOLUTIONS_DATA_DIR`, then
`~/.cache/solutions/datasets`. Files keep the publisher's names and layout so that a file a user
downloaded by hand, or a shared copy, is read as is. A missing file is downloaded once with its
checksum checked; offline, the error says where the file is expected and how to pass `--data`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from solutions.common.errors import UserError

ENV_VAR = "SOLUTIONS_DATA_DIR"
DEFAULT_CACHE = Path.home() / ".cache" / "solutions" / "datasets"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The directory named datasets are read from (and downloaded into)."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return DEFAULT_CACHE


@dataclass(frozen=True)
class RemoteFile:
    """A publisher's file: where it sits under the data directory, where to get it, its checksum."""

    relpath: str
    url: str
    checksum: str | None  # "sha256:<hex>" or "md5:<hex>"; None where the publisher gives none
    # A file already in the data directory is checked too, every time it is read: a planted or
    # damaged archive is refused before any of it is parsed. Off only where the publisher re-issues
    # the same content under other checksums and the loader validates the content itself.
    verify_on_read: bool = True

    def verify(self, path: Path) -> None:
        if self.checksum is None:  # the dataset's loader checks the content instead
            return
        algo, _, expected = self.checksum.partition(":")
        digest = file_digest(path, algo)
        if digest != expected:
            raise UserError(
                f"checksum mismatch for {path} ({algo} {digest}, expected {expected}): "
                "the file is corrupt or not the publisher's; delete it and retry"
            )


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(remote: RemoteFile, directory: Path, dataset: str) -> Path:
    """The local path of `remote`, checksum-checked, downloaded into `directory` only when missing."""
    target = directory / remote.relpath
    if target.exists():
        if remote.verify_on_read:
            remote.verify(target)
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    except OSError as exc:  # a read-only or full data directory: the data directory is the cause, not --output
        raise UserError(
            f"dataset {dataset!r} is not in the data directory (expected {target}), and it cannot be "
            f"downloaded there ({exc.strerror or exc}); put the publisher's file there, or point --data-dir / "
            f"${ENV_VAR} at a writable directory or a copy that holds it"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=30) as response:
            shutil.copyfileobj(response, out)
        remote.verify(tmp)
        tmp.replace(target)
    except UserError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:  # URLError, timeouts and refused connections are OSErrors
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"dataset {dataset!r} is not in the data directory (expected {target}) and the download "
            f"from {remote.url} failed ({exc.__class__.__name__}); put the publisher's file there, "
            f"point --data-dir / ${ENV_VAR} at a copy, or pass your own files with --data"
        ) from None
    return target


def fingerprint_files(paths: list[Path]) -> str:
    """sha256 over the files' names and bytes: identifies exactly which data a run saw. A file that
    cannot be opened (no permission, gone) was skipped by the reader as `unreadable`, not read: it
    is hashed by its name and a marker, so the run goes on and the fingerprint changes once it can
    be read."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(os.fsencode(path.name))  # the bytes on disk, also for names that are not UTF-8
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            h.update(UNREADABLE)
    return "sha256:" + h.hexdigest()


# What `fingerprint_files` hashes in place of the bytes of a file it cannot open.
UNREADABLE = b"\0unreadable\0"


def fingerprint_layout(paths: list[Path], root: Path) -> str:
    """sha256 over the files' paths relative to `root`: which class (and split) folder holds each
    file. `fingerprint_files` hashes base names and bytes only (kept so, so that older runs still
    match), which misses an image moved into another class folder when the sorted order stays."""
    h = hashlib.sha256()
    top = os.path.abspath(root)  # no symlink resolution: the paths as the scan walked them
    for relative in sorted(Path(os.path.relpath(os.path.abspath(path), top)).as_posix() for path in paths):
        h.update(os.fsencode(relative) + b"\0")
    return "sha256:" + h.hexdigest()


def split_difference(config: dict, sizes: dict, class_names: list | None, repairs: dict | None = None) -> str | None:
    """How the data read again splits otherwise than the run recorded (`config.json` "sizes",
    "class_names" and the source's "repairs"), or None. The fingerprint covers the files' bytes,
    not how the kit reads them: a reader that now drops duplicate rows, merges label spellings or
    reads day-first timestamps gives the same files another split (the last with the same sizes,
    but a repair counted that was not), whose test part may hold training rows. Class names are
    compared by number only: a tidied spelling ("1.0" now "1") splits alike."""
    saved_sizes, saved_names = config.get("sizes"), config.get("class_names")
    if saved_sizes and dict(saved_sizes) != dict(sizes):
        return (f"its files now read as {', '.join(f'{k} {v}' for k, v in sizes.items())}, not "
                f"{', '.join(f'{k} {v}' for k, v in saved_sizes.items())}")
    if saved_names is not None and class_names is not None and len(saved_names) != len(class_names):
        return f"its files now read as the {len(class_names)} classes {list(class_names)}, not {list(saved_names)}"
    before = {k: v for k, v in (config.get("source", {}).get("repairs") or {}).items() if v}
    now = {k: v for k, v in (repairs or {}).items() if v}
    if repairs is not None and before != now:
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        return "its files now read with other repairs (" + ", ".join(
            f"{k.replace('_', ' ')} {before.get(k, 0)} -> {now.get(k, 0)}" for k in changed) + ")"
    return None


def source_difference(saved: dict, now: dict) -> str | None:
    """What differs between a run's recorded data and the data read again ("fingerprint" or
    "layout"), or None. Each is compared when both sides have it (runs from before `layout` lack it)."""
    for key in ("fingerprint", "layout"):
        if saved.get(key) and now.get(key) and saved[key] != now[key]:
            return "its files differ" if key == "fingerprint" else "its files sit in other folders"
    return None


def fingerprint_arrays(*arrays) -> str:
    """sha256 over in-memory arrays (datasets shipped inside a package)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode() + str(a.dtype).encode())
        h.update(memoryview(a).cast("B") if a.flags.c_contiguous else a.tobytes())
    return "sha256:" + h.hexdigest()


def fingerprint_texts(texts, labels) -> str:
    """sha256 over texts and their labels (datasets read through TFDS or another library)."""
    h = hashlib.sha256()
    for text, label in zip(texts, labels):
        h.update(text.encode("utf-8", "surrogatepass") + b"\x00" + str(label).encode() + b"\x01")
    return "sha256:" + h.hexdigest()
