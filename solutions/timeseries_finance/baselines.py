"""The classical forecasts every model is judged against, made for every day from past data only.

Each function returns one forecast per day t (made at the close of t, for days t+1..t+horizon),
so the caller scores them on exactly the test origins the model is scored on.
- naive: yesterday's value (the last return; for variance, yesterday's overnight^2 + Garman-Klass
  range variance, or the squared return when there is no open/high/low);
- historical_mean: the training days' mean return / variance;
- ewma: RiskMetrics exponentially weighted mean / variance, lambda 0.94;
- garch11 (and gjr_garch11): `arch` GARCH(1,1) with a constant mean, fitted on the training days
  only, then run forward with those parameters one day at a time.
"""

from __future__ import annotations

import warnings

import numpy as np

from solutions.timeseries_finance.features import VARIANCE_FLOOR, Series, Statistics

RISKMETRICS_LAMBDA = 0.94


def _trailing_sum(values: np.ndarray, horizon: int) -> np.ndarray:
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    out = np.full(len(values), np.nan)
    t = np.arange(horizon - 1, len(values))
    out[t] = cumulative[t + 1] - cumulative[t + 1 - horizon]
    return out


def ewma(values: np.ndarray, start: float, lam: float = RISKMETRICS_LAMBDA) -> np.ndarray:
    """s_t = lam s_{t-1} + (1 - lam) v_t, s_{-1} = start: the estimate after day t."""
    out = np.empty(len(values))
    state = start
    for t, v in enumerate(values):
        state = lam * state + (1 - lam) * v
        out[t] = state
    return out


def garch_forecasts(returns: np.ndarray, train: tuple[int, int], horizon: int, *, asymmetric: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(variance over the next `horizon` days, mean return over them) for every day, from a
    constant-mean GARCH(1,1) (GJR with `asymmetric`) fitted on the training days only."""
    from arch import arch_model

    model = arch_model(returns, mean="Constant", vol="GARCH", p=1, o=int(asymmetric), q=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit's parameters are recorded
        fitted = model.fit(first_obs=train[0], last_obs=train[1], disp="off")
        forecast = fitted.forecast(start=0, horizon=horizon, reindex=True)
    variance = np.asarray(forecast.variance, dtype=float).sum(axis=1)
    mean = np.full(len(returns), float(fitted.params["mu"]) * horizon)
    return variance, mean


def variance_baselines(series: Series, stats: Statistics, train: tuple[int, int], horizon: int
                       ) -> dict[str, np.ndarray]:
    """Forecasts of the next `horizon` days' summed squared demeaned return."""
    squared = (series.returns - stats.mean_return) ** 2
    names = series.feature_names
    if "log_garman_klass_variance" in names:
        gk = np.exp(series.features[:, names.index("log_garman_klass_variance")])
        overnight = series.features[:, names.index("overnight_return")]
        yesterday = overnight**2 + gk
    else:
        yesterday = squared
    out = {
        "naive": horizon * np.maximum(yesterday, VARIANCE_FLOOR),
        "historical_mean": np.full(len(series), horizon * stats.return_variance),
        "ewma": horizon * ewma(squared, stats.return_variance),
        "garch11": garch_forecasts(series.returns, train, horizon)[0],
        "gjr_garch11": garch_forecasts(series.returns, train, horizon, asymmetric=True)[0],
    }
    return out


def return_baselines(series: Series, stats: Statistics, train: tuple[int, int], horizon: int
                     ) -> dict[str, np.ndarray]:
    """Forecasts of the next `horizon` days' summed log return."""
    return {
        "naive": _trailing_sum(series.returns, horizon),
        "historical_mean": np.full(len(series), horizon * stats.mean_return),
        "ewma": horizon * ewma(series.returns, stats.mean_return),
        "garch11": garch_forecasts(series.returns, train, horizon)[1],
    }
