"""Price tables: header matching, date order, and every repair counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from solutions.common.errors import UserError
from solutions.timeseries_finance.data import clean_prices, load_arch, read_csv
from tests.solutions.timeseries_finance.prices import sp500, write_defective_csv


def test_defective_csv_is_sorted_and_repairs_are_counted(tmp_path):
    path = tmp_path / "prices.csv"
    defects = write_defective_csv(path, days=300)
    table = read_csv(path)
    for name, count in defects.items():
        assert table.repairs[name] == count, name
    assert table.repairs["rows_out_of_order"] > 0
    assert table.frame.index.is_monotonic_increasing and table.frame.index.is_unique
    assert len(table.frame) == 300 - 2  # the NaN and zero close rows are gone, the duplicate merged
    assert (table.frame[["close", "open", "high", "low", "raw_close"]] > 0).all().all()
    assert table.has_range and table.has_volume


def test_duplicate_date_keeps_the_last_row():
    frame = sp500(5)
    later = frame.iloc[[2]].copy()
    later["Adj Close"] = 999.0
    table = clean_prices(pd.concat([frame, later]), name="t")
    assert table.repairs["duplicate_dates_dropped"] == 1
    assert table.frame["close"].iloc[2] == 999.0


def test_adjusted_close_drives_returns_and_raw_close_the_range():
    frame = sp500(5)
    frame["Adj Close"] = frame["Close"] / 2  # a dividend-adjusted history
    table = clean_prices(frame, name="t")
    np.testing.assert_allclose(table.frame["close"], frame["Close"].to_numpy() / 2)
    np.testing.assert_allclose(table.frame["raw_close"], frame["Close"].to_numpy())


def test_close_only_csv_has_no_range_or_volume(tmp_path):
    frame = sp500(30)[["Date", "Close"]]
    frame["Volume"] = 0  # indices often publish no volume
    path = tmp_path / "close.csv"
    frame.to_csv(path, index=False)
    table = read_csv(path)
    assert not table.has_range and not table.has_volume
    assert table.repairs["volume_missing_feature_dropped"] == 1


def test_inconsistent_high_low_is_widened():
    frame = sp500(5)
    frame.loc[1, "High"] = frame.loc[1, "Close"] * 0.9  # a high below the close
    table = clean_prices(frame, name="t")
    assert table.repairs["high_low_widened"] == 1
    row = table.frame.iloc[1]
    assert row["high"] >= max(row["open"], row["raw_close"])


@pytest.mark.parametrize("columns, message", [
    (["Date", "Open", "High", "Low", "Volume"], "has no close column"),
    (["Open", "Close"], "has no date column"),
])
def test_missing_columns_are_one_clear_error(tmp_path, columns, message):
    path = tmp_path / "bad.csv"
    sp500(10)[columns].to_csv(path, index=False)
    with pytest.raises(UserError, match=message) as info:
        read_csv(path)
    assert "\n" not in str(info.value) and "its columns are" in str(info.value)


def test_arch_datasets_load_offline():
    table = load_arch("nasdaq")
    assert len(table.frame) > 5000 and table.has_range
    assert str(table.frame.index[0].date()) == "1999-01-04"


def _written(frame: pd.DataFrame, dates: list, **columns) -> pd.DataFrame:
    """The same prices with the Date column (and any other) written another way."""
    frame = frame.copy()
    frame["Date"] = dates
    for name, values in columns.items():
        frame[name] = values
    return frame


def _iso_dates(table) -> list[str]:
    return [str(d.date()) for d in table.frame.index]


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%y"])
def test_day_first_dates_are_read_as_written(fmt):
    """A day-first file was misdated (1 Sep read as 9 Jan) with every day above 12 dropped."""
    frame = sp500(60)
    dates = pd.to_datetime(frame["Date"])
    table = clean_prices(_written(frame, list(dates.dt.strftime(fmt))), name="t")
    assert _iso_dates(table) == list(frame["Date"])
    assert table.repairs["unparseable_dates_dropped"] == 0
    assert table.repairs["dates_read_as_day_month_year"] == 60


def test_month_first_dates_and_a_few_bad_ones_are_counted():
    frame = sp500(40)
    dates = list(pd.to_datetime(frame["Date"]).dt.strftime("%m/%d/%Y"))
    dates[5], dates[9] = "n/a", ""
    table = clean_prices(_written(frame, dates), name="t")
    assert table.repairs["dates_read_as_month_day_year"] == 38
    assert table.repairs["unparseable_dates_dropped"] == 2
    assert _iso_dates(table) == [d for i, d in enumerate(frame["Date"]) if i not in (5, 9)]


def test_day_month_order_without_a_day_above_12_is_refused_not_guessed():
    """Monthly closes on the 1st, day-first, read month-first as twelve consecutive days (a
    "follows the days" rule took them so); with no day above 12 either reading may be wrong."""
    monthly = [f"01/{m:02d}/2016" for m in range(1, 13)] + [f"01/{m:02d}/2017" for m in range(1, 13)]
    frame = pd.DataFrame({"Date": monthly, "Close": np.arange(24) + 100.0})
    with pytest.raises(UserError, match="ambiguous: '01/01/2016'"):
        clean_prices(frame, name="t", origin="prices.csv")
    frame = sp500(7, start=22)  # 1999-02-04 .. 1999-02-12: daily, but too short to tell
    dates = pd.to_datetime(frame["Date"])
    with pytest.raises(UserError, match="ambiguous"):
        clean_prices(_written(frame, list(dates.dt.strftime("%d/%m/%Y"))), name="t")
    frame = sp500(20, start=22)  # with days above 12 the order is plain
    table = clean_prices(_written(frame, list(pd.to_datetime(frame["Date"]).dt.strftime("%d/%m/%Y"))), name="t")
    assert _iso_dates(table) == list(frame["Date"])


def test_a_fractional_yyyymmdd_is_an_unread_date_not_a_crash():
    frame = pd.DataFrame({"Date": [20160810.0, 20160811.0, 20160812.5, 20160815.0], "Close": [1.0, 2.0, 3.0, 4.0]})
    table = clean_prices(frame, name="t")
    assert table.repairs["unparseable_dates_dropped"] == 1 and len(table.frame) == 3


@pytest.mark.parametrize("dates, message", [
    (["01/02/2016", "03/04/2016", "05/06/2016"], "ambiguous: '01/02/2016'"),
    (["12/08/2016", "yesterday", "today", "tomorrow"], "3 of 4 dates cannot be read in one format .*'yesterday'"),
    ([42594, 42595, 42596], "neither YYYYMMDD nor epoch"),
])
def test_unreadable_date_columns_are_one_clear_error(dates, message):
    frame = pd.DataFrame({"Date": dates, "Close": np.arange(len(dates)) + 100.0})
    with pytest.raises(UserError, match=message) as info:
        clean_prices(frame, name="t", origin="prices.csv")
    assert "\n" not in str(info.value) and "'Date'" in str(info.value)


@pytest.mark.parametrize("unit, step, digits", [("seconds", "1s", False), ("milliseconds", "1ms", False),
                                                ("yyyymmdd", None, True)])
def test_numeric_dates_by_magnitude(unit, step, digits):
    """Epoch seconds were read as nanoseconds: every day became 1970-01-01."""
    frame = sp500(30)
    dates = pd.to_datetime(frame["Date"])
    values = (dates.dt.strftime("%Y%m%d").astype(int) if digits
              else (dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(step))
    table = clean_prices(_written(frame, list(values)), name="t")
    assert _iso_dates(table) == list(frame["Date"])
    assert sum(v for k, v in table.repairs.items() if k.startswith(f"dates_read_as_{'epoch_' * (not digits)}{unit}")) == 30


def test_mixed_utc_offsets_keep_the_date_as_written(tmp_path):
    """-04:00 (summer) and -05:00 (winter) in one column crashed pandas; a close at 23:30+09:00 must
    not move to another day either."""
    frame = sp500(120, start=4400)  # 2016-06 .. 2016-11, across the end of daylight saving time
    dates = pd.to_datetime(frame["Date"]).dt.tz_localize("America/New_York") + pd.Timedelta(hours=16)
    written = [d.isoformat() for d in dates]
    assert {w[-6:] for w in written} == {"-04:00", "-05:00"}
    path = tmp_path / "tz.csv"
    _written(frame, written).to_csv(path, index=False)
    table = read_csv(path)
    assert _iso_dates(table) == list(frame["Date"])
    assert table.repairs["utc_offsets_dropped_local_time_kept"] == 120
    late = clean_prices(_written(sp500(3), ["2016-03-10T23:30+09:00", "2016-03-11T23:30+09:00",
                                            "2016-03-14T23:30:00Z"]), name="t")
    assert _iso_dates(late) == ["2016-03-10", "2016-03-11", "2016-03-14"]


def test_thousands_separators_currency_and_decimal_commas_are_numbers(tmp_path):
    """Under pandas 3 text columns are dtype `str`, not object: "2,183.74" closes were all dropped
    and a "3,000,660,000" volume silently left out as missing."""
    frame = sp500(20)
    close, volume = frame["Close"].round(2), frame["Volume"].astype("int64")
    path = tmp_path / "thousands.csv"
    _written(frame, list(frame["Date"]), Close=[f"${c:,.2f}" for c in close], **{"Adj Close": close},
             Volume=[f"{v:,}" for v in volume]).to_csv(path, index=False)
    table = read_csv(path)
    assert len(table.frame) == 20 and table.has_volume
    np.testing.assert_allclose(table.frame["raw_close"], close)
    np.testing.assert_allclose(table.frame["volume"], volume)
    euro = clean_prices(_written(frame, list(frame["Date"]), Close=[f"{c:.2f}".replace(".", ",") for c in close],
                                 **{"Adj Close": [f"{c:,.2f}".replace(",", " ").replace(".", ",") for c in close]},
                                 Volume=[f"{v:,}".replace(",", ".") for v in volume]), name="t")
    np.testing.assert_allclose(euro.frame["raw_close"], close)
    np.testing.assert_allclose(euro.frame["close"], close)
    np.testing.assert_allclose(euro.frame["volume"], volume)


def test_latin1_lines_are_read_and_counted(tmp_path):
    frame = sp500(10)
    frame["Note"] = ""
    frame.loc[3, "Note"] = "Börse geschlossen?"
    path = tmp_path / "latin1.csv"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    table = read_csv(path)
    assert len(table.frame) == 10 and table.repairs["lines_read_as_latin1"] == 1
