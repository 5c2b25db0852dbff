"""No look-ahead: what a forecast made at day t sees depends on days <= t only, and every
statistic on the training days only. Windows stay inside their split."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.common.solution import get_solution
from solutions.timeseries_finance.baselines import garch_forecasts, variance_baselines
from solutions.timeseries_finance.data import load_arch
from solutions.timeseries_finance.features import (Statistics, compute_features, split_bounds, targets,
                                                   window_origins, windows)
from tests.solutions.timeseries_finance.prices import sp500

OPTIONS = dict(dataset=None, val_split=0.1, test_split=0.2, lookback=22, horizon=1, target="volatility",
               quantiles=False, walk_forward=None, cost_bps=5.0, seed=0)


def _write(frame, path):
    frame.to_csv(path, index=False)
    return str(path)


def _perturb_after(frame, day: int, seed: int = 1):
    """Every price and volume after row `day` changed (consistently, so the rows stay valid)."""
    changed = frame.astype({"Volume": float})
    rng = np.random.default_rng(seed)
    rows = changed.index > day
    factor = rng.uniform(0.5, 1.5, rows.sum())
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        changed.loc[rows, column] = changed.loc[rows, column] * factor
    changed.loc[rows, "Volume"] = changed.loc[rows, "Volume"] * rng.uniform(0.1, 10, rows.sum())
    return changed


@pytest.fixture(scope="module")
def prices():
    return sp500(1500)


@pytest.mark.parametrize("where", ["train", "val", "test"])
def test_changing_the_future_changes_nothing_a_forecast_at_day_t_uses(prices, tmp_path, where):
    solution = get_solution("timeseries-finance")
    original = solution.load_splits({**OPTIONS, "data": _write(prices, tmp_path / "a.csv")})
    bounds = original.fitted["bounds"]
    start, end = getattr(bounds, where)
    t = (start + end) // 2  # a forecast origin (a row of the return series) inside that split
    day = t + 1  # the return series starts at the second price row
    changed = solution.load_splits({**OPTIONS, "data": _write(_perturb_after(prices, day), tmp_path / "b.csv")})
    a, b = original.fitted, changed.fitted
    assert not np.allclose(a["series"].features[t + 1:], b["series"].features[t + 1:])  # the future did change

    np.testing.assert_array_equal(a["series"].features[: t + 1], b["series"].features[: t + 1])
    origins = a["origins"][where]
    assert t in origins
    split_a, split_b = getattr(original, where), getattr(changed, where)
    used = origins <= t
    np.testing.assert_array_equal(split_a.x[used], split_b.x[used])  # every window made by day t
    if where != "train":  # the scaler, the mean return and the baselines are fitted on training days
        for name in ("feature_mean", "feature_variance"):
            np.testing.assert_array_equal(getattr(a["stats"], name), getattr(b["stats"], name))
        assert a["stats"].mean_return == b["stats"].mean_return
        base_a = variance_baselines(a["series"], a["stats"], bounds.train, 1)
        base_b = variance_baselines(b["series"], b["stats"], bounds.train, 1)
        for name in base_a:
            np.testing.assert_allclose(base_a[name][: t + 1], base_b[name][: t + 1], rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("walk_forward", [None, 3])
@pytest.mark.parametrize("lookback, horizon", [(22, 1), (5, 10)])
def test_no_window_crosses_a_split_boundary(walk_forward, lookback, horizon):
    n = 2000
    blocks = range(1, (walk_forward or 1) + 1)
    tested = []
    for block in blocks:
        bounds = split_bounds(n, val_fraction=0.1, test_fraction=0.2, walk_forward=walk_forward,
                              block=block if walk_forward else None)
        assert bounds.train[1] == bounds.val[0] and bounds.val[1] == bounds.test[0]
        for start, end in (bounds.train, bounds.val, bounds.test):
            origins = window_origins(start, end, lookback=lookback, horizon=horizon)
            assert origins.min() - lookback + 1 >= start and origins.max() + horizon < end
        tested.append(bounds.test)
    assert tested[0][0] == n - 400 and tested[-1][1] == n  # the blocks tile the last 20% of days
    assert all(tested[i][1] == tested[i + 1][0] for i in range(len(tested) - 1))


def test_windows_and_targets_are_the_days_they_claim():
    series = compute_features(load_arch("sp500"))
    origins = np.array([30, 31, 500])
    x = windows(series.features, origins, 22)
    np.testing.assert_array_equal(x[2], series.features[479:501].astype(np.float32))
    r = series.returns
    y = targets(r, target="return", horizon=3, mean_return=0.0)
    assert y[500] == pytest.approx(r[501] + r[502] + r[503])
    v = targets(r, target="volatility", horizon=2, mean_return=0.1)
    assert v[500] == pytest.approx((r[501] - 0.1) ** 2 + (r[502] - 0.1) ** 2)
    assert np.isnan(v[-1]) and np.isnan(v[-2]) and not np.isnan(v[-3])


def test_baselines_reproduce_the_published_reference_on_sp500():
    """The issue's figures (test = last 20% of days, r in percent, training-part mean, models fitted on
    the first 80%): GARCH(1,1) 0.415, GJR 0.376, EWMA 0.483, historical variance 0.943."""
    series = compute_features(load_arch("sp500"))
    r, n = series.returns, len(series)
    first_test = n - int(round(0.2 * n))
    stats = Statistics.fit(series, (0, first_test))
    origins = np.arange(first_test - 1, n - 1)
    y = targets(r, target="volatility", horizon=1, mean_return=stats.mean_return)[origins]
    forecasts = variance_baselines(series, stats, (0, first_test), 1)

    def qlike(h):
        return float(np.mean(np.log(h[origins]) + y / h[origins]))

    assert qlike(forecasts["garch11"]) == pytest.approx(0.415, abs=0.002)
    assert qlike(forecasts["gjr_garch11"]) == pytest.approx(0.376, abs=0.002)
    assert qlike(forecasts["ewma"]) == pytest.approx(0.483, abs=0.002)
    assert qlike(forecasts["historical_mean"]) == pytest.approx(0.943, abs=0.002)
    variance, mean = garch_forecasts(r, (0, first_test), 5)
    assert variance[origins[0]] > forecasts["garch11"][origins[0]]  # 5 days of variance, not 1


def test_the_documented_formulas_rebuild_the_features_a_flat_day_included():
    """An app developer had only feature names and "as the kit computes them": the formulas now
    travel in forecast.json and the metadata. Followed literally (here with numpy, not the kit's
    code), they give the kit's features, also on a day with open = high = low = close, which
    gave NaN through the SavedModel and 0 through TFLite when the floor was not written down."""
    import math

    from solutions.timeseries_finance.data import clean_prices
    from solutions.timeseries_finance.features import FEATURE_FORMULAS, compute_features
    from tests.solutions.timeseries_finance.prices import sp500

    frame = sp500(30)
    frame.loc[10, ["Open", "High", "Low", "Close"]] = frame.loc[10, "Close"]
    frame.loc[10, "Adj Close"] = frame.loc[10, "Close"]
    series = compute_features(clean_prices(frame, name="t"))
    assert set(series.feature_names) <= set(FEATURE_FORMULAS)
    o, h, lo = (frame[k].to_numpy(float) for k in ("Open", "High", "Low"))
    cr, c = frame["Close"].to_numpy(float), frame["Adj Close"].to_numpy(float)
    v = frame["Volume"].to_numpy(float)
    ln = np.log
    floor = float(FEATURE_FORMULAS["log_parkinson_variance"].split("), ")[1].split(")")[0])
    assert floor == 1e-4
    expected = {
        "return": 100 * ln(c[1:] / c[:-1]),
        "overnight_return": 100 * ln(o[1:] / cr[:-1]),
        "log_garman_klass_variance": ln(np.maximum(1e4 * (0.5 * ln(h / lo) ** 2 - (2 * math.log(2) - 1)
                                                          * ln(cr / o) ** 2), floor))[1:],
        "log_parkinson_variance": ln(np.maximum(1e4 * ln(h / lo) ** 2 / (4 * math.log(2)), floor))[1:],
        "volume_change": np.clip(ln(v[1:] / v[:-1]), -5, 5),
    }
    for i, name in enumerate(series.feature_names):
        np.testing.assert_allclose(series.features[:, i], expected[name], rtol=1e-12, err_msg=name)
    assert np.isfinite(series.features[9]).all()  # the flat day (row 9: day 10 has no return row 10)
