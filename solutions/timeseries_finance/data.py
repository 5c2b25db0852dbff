"""Daily price tables: the `arch` package's S&P 500 / NASDAQ and a user's CSV, repaired and counted.

Every repair is counted, because a silently "cleaned" price series is how a backtest lies:
rows are sorted by date, a duplicated date keeps its last row, rows without a usable close
(NaN, zero, negative) are dropped, broken open/high/low values are rebuilt from the close, and
calendar gaps longer than a long weekend are counted (the return then spans the gap).

Dates are read in one format chosen for the whole column (ISO, day/month/year or month/day/year,
epoch seconds or milliseconds), because a per-value guess misdates a day-first file silently
(1 Sep becomes 9 Jan) and drops every day above the 12th; the format used is counted too.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from solutions.common.errors import UserError
from solutions.common.tables import columns_listing, read_table

ARCH_DATASETS = {"sp500": "S&P 500 index", "nasdaq": "NASDAQ Composite index"}
DATE_NAMES = ("date", "datetime", "timestamp", "time", "day")
# Normalised header -> canonical column. "adjclose" beats "close" for returns (dividends, splits).
COLUMN_NAMES = {"open": "open", "high": "high", "low": "low", "close": "close", "adjclose": "adj_close",
                "adjustedclose": "adj_close", "volume": "volume", "vol": "volume"}
MAX_GAP_DAYS = 4  # Thursday -> Monday around a Friday holiday; anything longer is a gap
# 12/08/2016, 12.08.16, 8-12-2016 (an optional time may follow): which field is the day is decided per column
NUMERIC_DATE = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?=$|[ T])")
# a UTC offset after a time of day ("16:00:00-04:00", "16:00Z"): the wall-clock time before it is kept
UTC_OFFSET = re.compile(r"(\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)$")
# Numeric dates by magnitude (bands do not overlap): YYYYMMDD, then epoch seconds .. nanoseconds.
EPOCH_UNITS = (("seconds", "s", 1e8, 1e10), ("milliseconds", "ms", 1e11, 1e13),
               ("microseconds", "us", 1e14, 1e16), ("nanoseconds", "ns", 1e17, 9.3e18))
PLAUSIBLE_DATES = (pd.Timestamp("1900-01-01"), pd.Timestamp("2100-01-01"))


@dataclass
class PriceTable:
    """Daily prices indexed by date: `close` (adjusted where the source has it) drives returns;
    `open/high/low/raw_close` (same, unadjusted scale) drive the range features; `volume`."""

    frame: pd.DataFrame
    name: str
    repairs: Counter = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)
    longest_gap_days: int = 0

    @property
    def has_range(self) -> bool:
        return {"open", "high", "low", "raw_close"} <= set(self.frame.columns)

    @property
    def has_volume(self) -> bool:
        return "volume" in self.frame.columns


def _normalise(header: str) -> str:
    return re.sub(r"[^a-z]", "", str(header).lower())


def load_arch(name: str) -> PriceTable:
    """sp500 / nasdaq as the `arch` package ships them (offline, 1999-2018)."""
    import importlib

    try:
        module = importlib.import_module(f"arch.data.{name}")
    except ImportError as exc:
        raise UserError(f"dataset {name!r} needs the `arch` package ({exc}); pip install arch") from None
    raw = module.load()
    raw = raw.reset_index()
    return clean_prices(raw, name=name)


def read_csv(path: Path) -> PriceTable:
    """A user's CSV with a date column and Open/High/Low/Close/(Adj Close)/Volume in any case."""
    path = Path(path).expanduser()
    raw = read_table(path)
    table = clean_prices(raw, name=f"file:{path.resolve()}", origin=str(path))
    if raw.attrs.get("lines_read_as_latin1"):
        table.repairs["lines_read_as_latin1"] = int(raw.attrs["lines_read_as_latin1"])
    table.files = [path.resolve()]
    return table


def clean_prices(raw: pd.DataFrame, *, name: str, origin: str | None = None) -> PriceTable:
    """Map headers, parse dates and numbers, and repair the rows, counting each repair."""
    origin = origin or name
    columns = {_normalise(c): c for c in raw.columns}
    date_col = next((columns[n] for n in DATE_NAMES if n in columns), None)
    if date_col is None:
        raise UserError(f"{origin} has no date column (looked for {', '.join(DATE_NAMES)}); "
                        + columns_listing(raw))
    mapped = {canonical: columns[key] for key, canonical in COLUMN_NAMES.items() if key in columns}
    if "close" not in mapped and "adj_close" not in mapped:
        raise UserError(f"{origin} has no close column (looked for Close or Adj Close, any case); "
                        + columns_listing(raw))
    repairs: Counter = Counter()
    frame = pd.DataFrame({"date": parse_dates(raw[date_col], repairs, f"{origin}: date column {date_col!r}")})
    for canonical, column in mapped.items():
        frame[canonical] = _numbers(raw[column])
    repairs["unparseable_dates_dropped"] = int(frame["date"].isna().sum())
    frame = frame.dropna(subset=["date"])
    repairs["rows_out_of_order"] = int((frame["date"].diff().dt.days < 0).sum())
    frame = frame.sort_values("date", kind="stable")
    duplicated = frame["date"].duplicated(keep="last")
    repairs["duplicate_dates_dropped"] = int(duplicated.sum())
    frame = frame[~duplicated].set_index("date")

    price = frame["adj_close"] if "adj_close" in frame else frame["close"]
    bad = ~(price > 0)  # NaN, zero, negative
    repairs["bad_close_rows_dropped"] = int(bad.sum())
    frame = frame[~bad]
    if "adj_close" in frame:
        if "close" in frame:
            # the unadjusted close matches open/high/low; a broken one falls back to the adjusted one
            broken = ~(frame["close"] > 0)
            repairs["bad_close_repaired_from_adj_close"] = int(broken.sum())
            frame["raw_close"] = frame["close"].where(~broken, frame["adj_close"])
        frame["close"] = frame.pop("adj_close")
    elif "close" in frame:
        frame["raw_close"] = frame["close"]
    if {"open", "high", "low"} <= set(frame.columns) and "raw_close" in frame:
        _repair_range(frame, repairs)
    else:
        frame = frame.drop(columns=[c for c in ("open", "high", "low", "raw_close") if c in frame])
    if "volume" in frame:
        volume = frame["volume"]
        bad_volume = ~(volume >= 0) | (volume == 0)
        if bad_volume.all():  # indices often publish no volume: the feature is left out, not faked
            frame = frame.drop(columns="volume")
            repairs["volume_missing_feature_dropped"] = 1
        else:
            repairs["bad_volume_filled_forward"] = int(bad_volume.sum())
            frame["volume"] = volume.where(~bad_volume).ffill().bfill()
    gaps = frame.index.to_series().diff().dt.days.fillna(0)
    repairs["gaps_over_4_days"] = int((gaps > MAX_GAP_DAYS).sum())
    if len(frame) < 2:
        raise UserError(f"{origin}: fewer than 2 usable rows after repairs ({dict(+repairs)})")
    return PriceTable(frame=frame, name=name, repairs=repairs, longest_gap_days=int(gaps.max()))


def parse_dates(column: pd.Series, repairs: Counter, where: str) -> pd.Series:
    """Naive datetimes (NaT where unreadable) in one format for the whole column; the format, when
    not ISO, is counted in `repairs`. Refuses (UserError) a column most of whose dates it cannot read."""
    if pd.api.types.is_datetime64_any_dtype(column):  # already parsed (the `arch` datasets)
        return column.dt.tz_localize(None) if column.dt.tz is not None else column
    numbers = pd.to_numeric(column, errors="coerce")
    filled = column.notna() & (column.astype(str).str.strip() != "")
    if filled.any() and numbers[filled].notna().all():
        return _numeric_dates(numbers, repairs, where)
    text = column.where(filled).astype(str).str.strip()
    text = text.mask(text.str.lower().isin(("now", "today")))  # pandas reads these as the clock's time
    local = text.str.replace(UTC_OFFSET, r"\1", regex=True)
    offsets = int(((local != text) & text.notna()).sum())
    if offsets:
        repairs["utc_offsets_dropped_local_time_kept"] += offsets
    label, dates = _best_format(local, filled, where)
    if label:
        repairs[f"dates_read_as_{label}"] += int(dates.notna().sum())
    return dates


def _numeric_dates(numbers: pd.Series, repairs: Counter, where: str) -> pd.Series:
    """YYYYMMDD, or epoch seconds/ms/us/ns by magnitude (read as UTC); dates outside 1900..2100 are unread."""
    top = numbers.abs().max()
    if 1e7 <= top < 1e8:
        label = "yyyymmdd"
        dates = pd.to_datetime(numbers.astype("Int64").astype(str), format="%Y%m%d", errors="coerce")
    else:
        unit = next(((name, code) for name, code, low, high in EPOCH_UNITS if low <= top < high), None)
        if unit is None:
            raise UserError(f"{where} holds numbers (e.g. {numbers.dropna().iloc[0]:g}) that are neither "
                            "YYYYMMDD nor epoch seconds or milliseconds; write the dates as YYYY-MM-DD")
        label = f"epoch_{unit[0]}_utc"
        dates = pd.to_datetime(numbers, unit=unit[1], errors="coerce")
    dates = dates.where(dates.between(*PLAUSIBLE_DATES))
    repairs[f"dates_read_as_{label}"] += int(dates.notna().sum())
    _refuse_if_mostly_unread(dates, numbers.notna(), numbers, where)
    return dates


def _best_format(text: pd.Series, filled: pd.Series, where: str) -> tuple[str | None, pd.Series]:
    """(label or None for ISO/inferred, dates) from the candidate that reads the most values.
    When day-first and month-first read equally many (every day <= 12), the reading whose days
    follow each other is taken; if both or neither do, the column is refused as ambiguous."""
    candidates = {None: _iso(text), "month_day_year": _iso(_reordered(text, day_first=False)),
                  "day_month_year": _iso(_reordered(text, day_first=True)), "inferred": _inferred(text)}
    best = max(candidates, key=lambda k: candidates[k].notna().sum())  # the first of equals
    _refuse_if_mostly_unread(candidates[best], filled, text, where)
    month, day = candidates["month_day_year"], candidates["day_month_year"]
    if best in ("month_day_year", "day_month_year") and month.notna().sum() == day.notna().sum() \
            and not month.equals(day):
        daily = [k for k, dates in (("month_day_year", month), ("day_month_year", day)) if _looks_daily(dates)]
        if len(daily) != 1:
            raise UserError(f"{where} is ambiguous: {text[filled].iloc[0]!r} reads as day/month or month/day "
                            "(no day above 12); write the dates as YYYY-MM-DD")
        best = daily[0]
    return (None if best == "inferred" else best), candidates[best]


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


def _looks_daily(dates: pd.Series) -> bool:
    gaps = dates.dropna().drop_duplicates().sort_values().diff().dt.days.dropna()
    return len(gaps) > 0 and gaps.median() <= MAX_GAP_DAYS


def _refuse_if_mostly_unread(dates: pd.Series, filled: pd.Series, values: pd.Series, where: str) -> None:
    """A column where most given dates are unreadable is the wrong format, not a few bad rows."""
    unread = dates.isna() & filled
    if unread.sum() * 2 > filled.sum():
        raise UserError(f"{where}: {int(unread.sum())} of {int(filled.sum())} dates cannot be read in one format "
                        f"(e.g. {values[unread].iloc[0]!r}); write them as YYYY-MM-DD")


def _numbers(column: pd.Series) -> pd.Series:
    """Numbers, also when written with thousands separators, a currency sign or a decimal comma
    (decided per column: "2184,05" or "1.234,5" mean a decimal comma, "2,184.05" thousands)."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    text = column.astype(str).str.replace(r"[$€£\s']", "", regex=True)
    if _decimal_comma(text):
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(float)


def _decimal_comma(text: pd.Series) -> bool:
    """A comma not followed by exactly three digits, or dots grouping thousands, and no
    "1,234.5" anywhere."""
    comma = text.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3}[.,]", regex=True, na=False).any()
    return bool(comma and not text.str.contains(r",\d{3}\.", regex=True, na=False).any())


def _repair_range(frame: pd.DataFrame, repairs: Counter) -> None:
    """Open/high/low that are missing or non-positive become the close (a zero-range day);
    a high below the open/close or a low above them is widened to contain them."""
    close = frame["raw_close"]
    broken = pd.Series(False, index=frame.index)
    for column in ("open", "high", "low"):
        bad = ~(frame[column] > 0)
        broken |= bad
        frame[column] = frame[column].where(~bad, close)
    repairs["bad_open_high_low_rebuilt"] = int(broken.sum())
    top = frame[["open", "raw_close"]].max(axis=1)
    bottom = frame[["open", "raw_close"]].min(axis=1)
    inconsistent = (frame["high"] < top) | (frame["low"] > bottom)
    repairs["high_low_widened"] = int((inconsistent & ~broken).sum())
    frame["high"] = np.maximum(frame["high"], top)
    frame["low"] = np.minimum(frame["low"], bottom)


def load_prices(options: dict) -> PriceTable:
    if options.get("data"):
        return read_csv(Path(options["data"]))
    name = options["dataset"]
    if name not in ARCH_DATASETS:
        raise UserError(f"unknown dataset {name!r} for timeseries-finance; known: {', '.join(ARCH_DATASETS)}, "
                        "or --data FILE.csv")
    return load_arch(name)
