"""`common.dates`: one format per column, shared by price tables and ratings' timestamps."""

from collections import Counter

import pandas as pd
import pytest

from solutions.common.dates import parse_dates
from solutions.common.errors import UserError


def test_a_day_first_column_is_read_day_first_and_counted():
    repairs = Counter()
    dates = parse_dates(pd.Series(["31/12/2018", "02/01/2019", "13/01/2019"]), repairs, "f.csv: column 'd'")
    assert [str(d.date()) for d in dates] == ["2018-12-31", "2019-01-02", "2019-01-13"]
    assert repairs == {"dates_read_as_day_month_year": 3}


def test_monthly_closes_on_the_first_are_ambiguous_not_twelve_consecutive_days():
    monthly = pd.Series([f"01/{m:02d}/2016" for m in range(1, 13)])
    with pytest.raises(UserError, match="f.csv: column 'd' is ambiguous: '01/01/2016'"):
        parse_dates(monthly, Counter(), "f.csv: column 'd'")


def test_a_caller_may_judge_unreadable_values_itself_but_never_gets_a_guessed_year_1():
    """Ratings' timestamps are mostly numbers: the few text values are parsed without the
    "mostly unreadable" refusal, which the caller applies to the whole column."""
    values = pd.Series(["t1", "t2", "1998-03-04 10:00"])
    with pytest.raises(UserError, match="2 of 3 dates cannot be read"):
        parse_dates(values, Counter(), "where")
    dates = parse_dates(values, Counter(), "where", refuse_unread=False)
    assert dates.isna().tolist() == [True, True, False]  # not 0001-01-01, as dateutil reads "t1"
    # a stray ambiguous date among values the caller reads otherwise is unread, not a refusal
    assert parse_dates(pd.Series(["01/02/2020"]), Counter(), "where", refuse_unread=False).isna().all()


def test_an_offset_the_pattern_misses_keeps_its_wall_clock_time_instead_of_crashing():
    dates = parse_dates(pd.Series(["2016-08-12T10Z", "2016-08-15T10Z"]), Counter(), "where")
    assert [str(d) for d in dates] == ["2016-08-12 10:00:00", "2016-08-15 10:00:00"]
