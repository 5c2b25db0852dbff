"""Files the kit writes next to a user's own: never over one that is already there."""

from __future__ import annotations

import os
from pathlib import Path


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
