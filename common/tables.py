"""A user's CSV/TSV read once, the same way for every domain: any delimiter, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from solutions.common.errors import UserError


# The last table parsed, keyed by what identifies its content: the up-front check of a run's source
# and its loader share one parse of the user's file.
_LAST: dict = {}


def read_table(path: Path, **kwargs) -> pd.DataFrame:
    """The file as a DataFrame (delimiter sniffed; a copy, parsed once per file version); a
    missing, empty or unparseable file is one UserError line instead of a pandas traceback."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path} is not a file")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, repr(sorted(kwargs.items())))
    if _LAST.get("key") != key:
        try:
            frame = pd.read_csv(path, sep=None, engine="python", **kwargs)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
        _LAST.clear()
        _LAST.update(key=key, frame=frame)
    return _LAST["frame"].copy()


def columns_listing(frame: pd.DataFrame) -> str:
    """'its columns are: a, b, c', the tail of every missing-column error."""
    return "its columns are: " + ", ".join(map(str, frame.columns))
