"""Dates as users' files write them, read in one format for the whole column.

A per-value guess misdates a day-first file silently (1 Sep becomes 9 Jan) and drops every day
above the 12th, so each column is read every candidate way (ISO, month/day/year, day/month/year,
pandas' own inference) and the reading that reads the most values is kept; numbers are YYYYMMDD
or epoch seconds .. nanoseconds by their magnitude. The format used is counted with a file's
repairs; a column that is ambiguous or mostly unreadable is one clear error. Shared by the price
tables (timeseries-finance) and the ratings' timestamps (recommendation).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter

import pandas as pd

from solutions.common.errors import UserError

# 12/08/2016, 12.08.16, 8-12-2016 (an optional time may follow): which field is the day is decided per column
NUMERIC_DATE = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?=$|[ T])")
# a UTC offset after a time of day ("16:00:00-04:00", "16:00Z"): the wall-clock time before it is kept
UTC_OFFSET = re.compile(r"(\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)$")
# Numeric dates by magnitude (bands do not overlap): YYYYMMDD, then epoch seconds .. nanoseconds.
EPOCH_UNITS = (("seconds", "s", 1e8, 1e10), ("milliseconds", "ms", 1e11, 1e13),
               ("microseconds", "us", 1e14, 1e16), ("nanoseconds", "ns", 1e17, 9.3e18))
PLAUSIBLE_DATES = (pd.Timestamp("1900-01-01"), pd.Timestamp("2100-01-01"))


def parse_dates(column: pd.Series, repairs: Counter, where: str, *, refuse_unread: bool = True) -> pd.Series:
    """Naive datetimes (NaT where unreadable) in one format for the whole column; the format, when
    not ISO, is counted in `repairs`. Refuses (UserError) a column most of whose dates it cannot
    read, unless `refuse_unread` is off (a caller that judges a wider column itself); an ambiguous
    day/month order is refused either way."""
    if pd.api.types.is_datetime64_any_dtype(column):  # already parsed (the `arch` datasets)
        return column.dt.tz_localize(None) if column.dt.tz is not None else column
    numbers = pd.to_numeric(column, errors="coerce")
    filled = column.notna() & (column.astype(str).str.strip() != "")
    if filled.any() and numbers[filled].notna().all():
        return _numeric_dates(numbers, repairs, where, refuse_unread)
    text = column.where(filled).astype(str).str.strip()
    text = text.mask(text.str.lower().isin(("now", "today")))  # pandas reads these as the clock's time
    local = text.str.replace(UTC_OFFSET, r"\1", regex=True)
    offsets = int(((local != text) & text.notna()).sum())
    if offsets:
        repairs["utc_offsets_dropped_local_time_kept"] += offsets
    label, dates = _best_format(local, filled, where, refuse_unread)
    if label:
        repairs[f"dates_read_as_{label}"] += int(dates.notna().sum())
    return dates


def _numeric_dates(numbers: pd.Series, repairs: Counter, where: str, refuse_unread: bool) -> pd.Series:
    """YYYYMMDD, or epoch seconds/ms/us/ns by magnitude (read as UTC); dates outside 1900..2100 are unread."""
    top = numbers.abs().max()
    if 1e7 <= top < 1e8:
        label = "yyyymmdd"
        whole = numbers.where(numbers == numbers.round())  # 20160812.5 is no date
        dates = pd.to_datetime(whole.astype("Int64").astype(str), format="%Y%m%d", errors="coerce")
    else:
        unit = next(((name, code) for name, code, low, high in EPOCH_UNITS if low <= top < high), None)
        if unit is None:
            raise UserError(f"{where} holds numbers (e.g. {numbers.dropna().iloc[0]:g}) that are neither "
                            "YYYYMMDD nor epoch seconds or milliseconds; write the dates as YYYY-MM-DD")
        label = f"epoch_{unit[0]}_utc"
        dates = pd.to_datetime(numbers, unit=unit[1], errors="coerce")
    dates = dates.where(dates.between(*PLAUSIBLE_DATES))
    repairs[f"dates_read_as_{label}"] += int(dates.notna().sum())
    if refuse_unread:
        _refuse_if_mostly_unread(dates, numbers.notna(), numbers, where)
    return dates


def _best_format(text: pd.Series, filled: pd.Series, where: str, refuse_unread: bool) -> tuple[str | None, pd.Series]:
    """(label or None for ISO/inferred, dates) from the candidate that reads the most values.
    When day-first and month-first read equally many and differ (no day above 12 anywhere), the
    column is refused as ambiguous: monthly closes on the 1st (01/MM/YYYY) read month-first as
    twelve consecutive days, so no "which reading looks daily" rule is safe. Any 13 consecutive
    calendar days hold a day above 12, so a daily file long enough to train on is never refused."""
    candidates = {None: _iso(text), "month_day_year": _iso(_reordered(text, day_first=False)),
                  "day_month_year": _iso(_reordered(text, day_first=True)), "inferred": _inferred(text)}
    candidates = {k: _plausible(dates) for k, dates in candidates.items()}
    best = max(candidates, key=lambda k: candidates[k].notna().sum())  # the first of equals
    if refuse_unread:
        _refuse_if_mostly_unread(candidates[best], filled, text, where)
    month, day = candidates["month_day_year"], candidates["day_month_year"]
    if best in ("month_day_year", "day_month_year") and month.notna().sum() == day.notna().sum() \
            and not month.equals(day):
        if not refuse_unread:  # a few such values among others the caller reads: unread, not a guess
            return None, pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        raise UserError(f"{where} is ambiguous: {text[filled].iloc[0]!r} reads as day/month or month/day "
                        "(no day above 12); write the dates as YYYY-MM-DD")
    return (None if best == "inferred" else best), candidates[best]


def _plausible(dates: pd.Series) -> pd.Series:
    """Naive dates within 1900..2100: a guess that "t1" is the year 1 is no reading, and an offset
    the text pattern missed ("10Z") keeps its wall-clock time, as the others do."""
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)
    if not pd.api.types.is_datetime64_any_dtype(dates):  # mixed offsets left as objects: unread
        return pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
    return dates.where(dates.between(*PLAUSIBLE_DATES))


def _iso(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="ISO8601", errors="coerce")


def _reordered(text: pd.Series, *, day_first: bool) -> pd.Series:
    """Numeric day/month dates rewritten as ISO (two-digit years pivot at 69, as strptime's %y)."""
    def iso(match: re.Match) -> str:
        a, _, b, year = match.groups()
        day, month = (a, b) if day_first else (b, a)
        if len(year) == 2:
            year = ("20" if int(year) < 69 else "19") + year
        return f"{year}-{month.zfill(2)}-{day.zfill(2)}"

    return text.str.replace(NUMERIC_DATE, iso, regex=True)


def _inferred(text: pd.Series) -> pd.Series:
    """pandas' own guess (e.g. "Aug 12, 2016"), the fallback when no candidate format fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(text, errors="coerce")


def _refuse_if_mostly_unread(dates: pd.Series, filled: pd.Series, values: pd.Series, where: str) -> None:
    """A column where most given dates are unreadable is the wrong format, not a few bad rows."""
    unread = dates.isna() & filled
    if unread.sum() * 2 > filled.sum():
        raise UserError(f"{where}: {int(unread.sum())} of {int(filled.sum())} dates cannot be read in one format "
                        f"(e.g. {values[unread].iloc[0]!r}); write them as YYYY-MM-DD")
