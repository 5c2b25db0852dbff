"""A user's CSV/TSV read once, the same way for every domain: any delimiter, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from solutions.common.errors import UserError


def read_table(path: Path, **kwargs) -> pd.DataFrame:
    """The file as a DataFrame (delimiter sniffed); a missing, empty or unparseable file is one
    UserError line instead of a pandas traceback."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path} is not a file")
    try:
        return pd.read_csv(path, sep=None, engine="python", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def columns_listing(frame: pd.DataFrame) -> str:
    """'its columns are: a, b, c', the tail of every missing-column error."""
    return "its columns are: " + ", ".join(map(str, frame.columns))
