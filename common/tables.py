"""A user's CSV/TSV read once, the same way for every domain: any delimiter, any usual encoding,
clear errors.

Encodings: UTF-8 with or without Excel's byte-order mark, UTF-16 with one ("Unicode text"), and
otherwise line by line UTF-8 where valid, Latin-1 for the lines that are not (counted in the
frame's `attrs["lines_read_as_latin1"]`): one Latin-1 byte must not make a whole file unreadable,
nor turn its valid UTF-8 lines into mojibake.
"""

from __future__ import annotations

import codecs
import csv
import io
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
            frame = _parse(path, kwargs)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
        _LAST.clear()
        _LAST.update(key=key, frame=frame)
    return _LAST["frame"].copy()


def _parse(path: Path, kwargs: dict) -> pd.DataFrame:
    """UTF-8 (a BOM dropped) straight from the file, as pandas reads it (compressed files too);
    anything else decoded here first. `attrs["lines_read_as_latin1"]` says how many lines fell back."""
    latin1 = 0
    try:
        frame = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig", **kwargs)
    except UnicodeDecodeError:
        text, latin1 = decode_text(path.read_bytes())
        frame = pd.read_csv(io.StringIO(text), sep=None, engine="python", **kwargs)
    frame.attrs["lines_read_as_latin1"] = latin1
    return frame


def decode_text(raw: bytes) -> tuple[str, int]:
    """A file's text and how many of its lines were read as Latin-1 (see the module docstring).
    Raises UnicodeDecodeError for bytes that are no text (NUL bytes: binary, or UTF-16 without a BOM)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), 0
    if b"\x00" in raw:
        raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1,
                                 "NUL byte: binary, or UTF-16 without a byte-order mark")
    try:
        return raw.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        return decode_lines(raw.removeprefix(codecs.BOM_UTF8))


def decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8 if the bytes are valid UTF-8, else Latin-1 (which maps every byte: never fails); True
    when it fell back."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def decode_lines(raw: bytes) -> tuple[str, int]:
    """Bytes decoded line by line (`decode`): one Latin-1 line does not turn the valid UTF-8 of every
    other line into mojibake. Returns the text and how many lines fell back."""
    parts, fell_back = [], 0
    for line in raw.splitlines(keepends=True):
        text, latin1 = decode(line)
        parts.append(text)
        fell_back += latin1
    return "".join(parts), fell_back


def columns_listing(frame: pd.DataFrame) -> str:
    """'its columns are: a, b, c', the tail of every missing-column error."""
    return "its columns are: " + ", ".join(map(str, frame.columns))


def numbers(column: pd.Series) -> pd.Series:
    """Numbers, also when written with thousands separators, a currency sign or a decimal comma
    (decided per column: "2184,05" or "1.234,5" mean a decimal comma, "2,184.05" thousands)."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    text = column.astype(str).str.replace(r"[$€£\s']", "", regex=True)
    if decimal_comma(text):
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(float)


def decimal_comma(text: pd.Series) -> bool:
    """A comma not followed by exactly three digits, or dots grouping thousands, and no
    "1,234.5" anywhere."""
    comma = text.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3}[.,]", regex=True, na=False).any()
    return bool(comma and not text.str.contains(r",\d{3}\.", regex=True, na=False).any())
