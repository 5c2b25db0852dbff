"""Causal features, forecast targets and split-respecting windows.

The rule everything here keeps: what the model sees for a forecast made at the close of day t is
computed from days <= t only, and every statistic (feature scaling, the mean return) comes from
the training days only. A window (its inputs and its target days) lies inside one split.

Units: returns are log returns in percent, variances in percent squared (the units GARCH papers
and `arch` report QLIKE in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solutions.common.errors import UserError
from solutions.timeseries_finance.data import PriceTable

TARGETS = ("volatility", "return")
VARIANCE_FLOOR = 1e-4  # percent^2 (a 0.01% daily move): keeps the log of a zero-range day finite


# Each feature of day t in words exact enough to compute it without the kit (forecast.json and
# the TFLite metadata carry them): ln is the natural log; C is the adjusted close when the data has
# one (else the close); O, H, L, Cr the day's open, high, low and unadjusted close; t-1 the day before.
FEATURE_FORMULAS = {
    "return": "100 * ln(C[t] / C[t-1])  (log return, percent)",
    "overnight_return": "100 * ln(O[t] / Cr[t-1])  (percent)",
    "log_garman_klass_variance": "ln(max(1e4 * (0.5 * ln(H/L)^2 - (2 ln 2 - 1) * ln(Cr/O)^2), 1e-4)) of day t "
                                 "(Garman-Klass variance in percent^2, floored at 1e-4 so that a day with H = L "
                                 "stays finite)",
    "log_parkinson_variance": "ln(max(1e4 * ln(H/L)^2 / (4 ln 2), 1e-4)) of day t (Parkinson variance in "
                              "percent^2, same floor)",
    "volume_change": "clip(ln(V[t] / V[t-1]), -5, 5)",
}


@dataclass
class Series:
    """Per-day features and returns; row t is the close of `dates[t]` (the first price day has no
    return and is dropped)."""

    dates: np.ndarray  # datetime64[D]
    returns: np.ndarray  # log returns in percent, float64 [n]
    features: np.ndarray  # float64 [n, F]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.returns)


def compute_features(table: PriceTable) -> Series:
    """Row t uses the prices of days t and t-1 only."""
    f = table.frame
    close = f["close"].to_numpy(float)
    returns = 100.0 * np.diff(np.log(close))
    columns = {"return": returns}
    if table.has_range:
        o, h, lo, c = (f[k].to_numpy(float)[1:] for k in ("open", "high", "low", "raw_close"))
        prev_close = f["raw_close"].to_numpy(float)[:-1]
        hl, co = np.log(h / lo), np.log(c / o)
        parkinson = 1e4 * hl**2 / (4 * np.log(2))  # each formula as FEATURE_FORMULAS states it
        garman_klass = 1e4 * (0.5 * hl**2 - (2 * np.log(2) - 1) * co**2)
        columns["overnight_return"] = 100.0 * np.log(o / prev_close)
        columns["log_garman_klass_variance"] = np.log(np.maximum(garman_klass, VARIANCE_FLOOR))
        columns["log_parkinson_variance"] = np.log(np.maximum(parkinson, VARIANCE_FLOOR))
    if table.has_volume:
        volume = f["volume"].to_numpy(float)
        columns["volume_change"] = np.clip(np.log(volume[1:] / volume[:-1]), -5.0, 5.0)
    features = np.stack(list(columns.values()), axis=1)
    if not np.isfinite(features).all():  # clean_prices should make this impossible
        raise UserError("non-finite feature values after repairs; check the price columns")
    dates = f.index.to_numpy().astype("datetime64[D]")[1:]
    return Series(dates=dates, returns=returns, features=features, feature_names=tuple(columns))


def targets(returns: np.ndarray, *, target: str, horizon: int, mean_return: float) -> np.ndarray:
    """y[t]: the next `horizon` days' summed log return, or summed squared demeaned return (the
    realised variance proxy QLIKE scores against). NaN where the horizon runs past the data."""
    n = len(returns)
    values = returns if target == "return" else (returns - mean_return) ** 2
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    y = np.full(n, np.nan)
    t = np.arange(n - horizon)
    y[t] = cumulative[t + 1 + horizon] - cumulative[t + 1]
    return y


@dataclass(frozen=True)
class Bounds:
    """Day ranges [start, end) of the three splits."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def describe(self, dates: np.ndarray) -> dict[str, str]:
        return {name: f"{dates[a]} .. {dates[b - 1]} ({b - a} days)"
                for name, (a, b) in (("train", self.train), ("val", self.val), ("test", self.test))}


def split_bounds(n: int, *, val_fraction: float, test_fraction: float,
                 walk_forward: int | None = None, block: int | None = None) -> Bounds:
    """Time-ordered splits: test = the last `test_fraction` of days, validation the days before it.

    With `walk_forward` K the test period is cut into K consecutive blocks; block b (1-based) is
    tested on its own days with everything before it (less a validation stretch of the same
    length as usual) as the expanding training window.
    """
    if not 0 < val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise UserError(f"--val-split {val_fraction} and --test-split {test_fraction} must be in (0, 1) "
                        "and sum to less than 1")
    n_test, n_val = int(round(test_fraction * n)), int(round(val_fraction * n))
    test_start = n - n_test
    test_end = n
    if walk_forward:
        edges = np.linspace(test_start, n, walk_forward + 1).round().astype(int)
        test_start, test_end = int(edges[block - 1]), int(edges[block])
    val_start = test_start - n_val
    return Bounds(train=(0, val_start), val=(val_start, test_start), test=(test_start, test_end))


def window_origins(start: int, end: int, *, lookback: int, horizon: int) -> np.ndarray:
    """Forecast days t whose input days t-lookback+1..t and target days t+1..t+horizon all lie in
    [start, end): no window crosses a split boundary."""
    return np.arange(start + lookback - 1, end - horizon)


def windows(features: np.ndarray, origins: np.ndarray, lookback: int) -> np.ndarray:
    """float32 [len(origins), lookback, F]: the input window ending at each origin."""
    if len(origins) == 0:
        return np.zeros((0, lookback, features.shape[1]), np.float32)
    view = np.lib.stride_tricks.sliding_window_view(features, lookback, axis=0)  # [n-L+1, F, L]
    return np.ascontiguousarray(view[origins - lookback + 1].transpose(0, 2, 1)).astype(np.float32)


@dataclass
class Statistics:
    """What is fitted on the training days and nothing else."""

    feature_mean: np.ndarray
    feature_variance: np.ndarray
    mean_return: float
    return_variance: float

    @classmethod
    def fit(cls, series: Series, train: tuple[int, int]) -> "Statistics":
        a, b = train
        rows = series.features[a:b]
        r = series.returns[a:b]
        return cls(feature_mean=rows.mean(axis=0), feature_variance=np.maximum(rows.var(axis=0), 1e-12),
                   mean_return=float(r.mean()), return_variance=float(r.var()))

    def to_json(self) -> dict:
        return {"feature_mean": self.feature_mean.tolist(), "feature_variance": self.feature_variance.tolist(),
                "mean_return": self.mean_return, "return_variance": self.return_variance}

    @classmethod
    def from_json(cls, data: dict) -> "Statistics":
        return cls(np.asarray(data["feature_mean"]), np.asarray(data["feature_variance"]),
                   float(data["mean_return"]), float(data["return_variance"]))
