"""Scores and the backtest, on numbers small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.timeseries_finance.scores import backtest, quantile_scores, return_scores, variance_scores


def test_qlike_is_smallest_for_the_true_variance():
    rng = np.random.default_rng(0)
    variance = rng.uniform(0.5, 4.0, 20000)
    y = variance * rng.standard_normal(20000) ** 2  # squared returns with that variance
    true = variance_scores(y, variance)["qlike"]
    assert true == pytest.approx(np.mean(np.log(variance) + y / variance))
    for wrong in (0.7 * variance, 1.4 * variance, np.full_like(variance, variance.mean())):
        assert variance_scores(y, wrong)["qlike"] > true


def test_return_scores_against_the_historical_mean():
    y = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    mean = 0.2
    scores = return_scores(y, np.full(5, mean), mean)
    assert scores["r2_oos"] == 0.0
    assert scores["directional_accuracy"] == pytest.approx(3 / 4)  # the 0.0 day has no direction
    perfect = return_scores(y, y, mean)
    assert perfect["r2_oos"] == 1.0 and perfect["rmse"] == 0.0


def test_quantile_coverage():
    y = np.arange(10, dtype=float)
    q = np.stack([np.full(10, 1.5), np.full(10, 4.5), np.full(10, 8.5)], axis=1)
    s = quantile_scores(y, q)
    assert s["below_q10"] == 0.2 and s["below_q50"] == 0.5 and s["below_q90"] == 0.9
    assert s["coverage_q10_q90"] == 0.7


def test_backtest_positions_costs_and_drawdown():
    forecast = np.array([0.5, 0.2, -0.1, 0.3])
    next_returns = 100 * np.log(np.array([1.10, 0.95, 1.20, 1.05]))  # simple +10%, -5%, +20%, +5%
    figures, equity = backtest(forecast, next_returns, cost_bps=10)
    # long, long, flat, long: entries on day 1 and 4, one exit on day 3 -> 3 trades at 0.1%
    daily = np.array([0.10 - 0.001, -0.05, 0.0 - 0.001, 0.05 - 0.001])
    np.testing.assert_allclose(equity, np.cumprod(1 + daily))
    assert figures["trades"] == 3 and figures["exposure"] == 0.75
    assert figures["total_return"] == pytest.approx(np.prod(1 + daily) - 1)
    assert figures["max_drawdown"] == pytest.approx(0.95 * 0.999 - 1)  # the peak after day 1 to day 3
    free, _ = backtest(forecast, next_returns, cost_bps=0)
    assert free["total_return"] > figures["total_return"]
