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
