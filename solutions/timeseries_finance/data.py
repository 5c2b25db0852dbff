"""Daily price tables: the `arch` package's S&P 500 / NASDAQ and a user's CSV, repaired and counted.

Every repair is counted, because a silently "cleaned" price series is how a backtest lies:
rows are sorted by date, a duplicated date keeps its last row, rows without a usable close
(NaN, zero, negative) are dropped, broken open/high/low values are rebuilt from the close, and
calendar gaps longer than a long weekend are counted (the return then spans the gap).

Dates are read in one format for the whole column (`common.dates`); the format used is counted too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from solutions.common.errors import UserError
from solutions.common.dates import parse_dates
from solutions.common.tables import columns_listing, numbers, read_table

ARCH_DATASETS = {"sp500": "S&P 500 index", "nasdaq": "NASDAQ Composite index"}
DATE_NAMES = ("date", "datetime", "timestamp", "time", "day")
# Normalised header -> canonical column. "adjclose" beats "close" for returns (dividends, splits).
COLUMN_NAMES = {"open": "open", "high": "high", "low": "low", "close": "close", "adjclose": "adj_close",
                "adjustedclose": "adj_close", "volume": "volume", "vol": "volume"}
MAX_GAP_DAYS = 4  # Thursday -> Monday around a Friday holiday; anything longer is a gap


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
        frame[canonical] = numbers(raw[column])
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
