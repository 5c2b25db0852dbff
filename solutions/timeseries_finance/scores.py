"""Forecast scores and the long/flat backtest.

Volatility: QLIKE = mean(log h + y / h) and MSE against the realised squared return y (Patton
2011: both rank forecasts correctly despite the noisy proxy; QLIKE is the headline). Returns:
RMSE, MAE, directional accuracy and out-of-sample R^2 against the training mean (Campbell and
Thompson 2008: beating the historical mean is the bar for a return forecast).
"""

from __future__ import annotations

import numpy as np

TRADING_DAYS = 252


def point_forecast(out: np.ndarray) -> np.ndarray:
    """The return forecast of a model output: the median of 10/50/90 quantiles, else the output."""
    return out[:, 1] if out.shape[1] == 3 else out[:, 0]


def variance_scores(y: np.ndarray, h: np.ndarray) -> dict[str, float]:
    h = np.maximum(np.asarray(h, float), 1e-12)
    return {"qlike": float(np.mean(np.log(h) + y / h)), "mse": float(np.mean((h - y) ** 2)),
            "mae": float(np.mean(np.abs(h - y)))}


def return_scores(y: np.ndarray, pred: np.ndarray, historical_mean: float) -> dict[str, float]:
    error = y - pred
    moved = y != 0
    sse_mean = float(np.sum((y - historical_mean) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "directional_accuracy": float(np.mean(np.sign(pred[moved]) == np.sign(y[moved]))) if moved.any() else float("nan"),
        "r2_oos": float(1.0 - np.sum(error**2) / sse_mean) if sse_mean > 0 else float("nan"),
    }


def quantile_scores(y: np.ndarray, quantiles: np.ndarray, levels=(0.1, 0.5, 0.9)) -> dict[str, float]:
    """Share of days below each quantile (should equal its level) and inside the outer pair."""
    out = {f"below_q{int(round(q * 100))}": float(np.mean(y < quantiles[:, i])) for i, q in enumerate(levels)}
    out["coverage_q10_q90"] = float(np.mean((y >= quantiles[:, 0]) & (y <= quantiles[:, -1])))
    error = y[:, None] - quantiles
    q = np.asarray(levels)[None]
    out["pinball"] = float(np.mean(np.maximum(q * error, (q - 1) * error)))
    return out


def interval_coverage(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    return float(np.mean((y >= low) & (y <= high)))


def backtest(forecast: np.ndarray, next_returns: np.ndarray, *, cost_bps: float, threshold: float = 0.0
             ) -> tuple[dict[str, float], np.ndarray]:
    """Long (1) when the forecast is above `threshold`, flat (0) otherwise; the position taken at
    the close of day t earns day t+1's return. Every change of position pays `cost_bps` basis
    points (entering from flat on the first day included). Returns figures and the equity curve.

    `next_returns` are log returns in percent.
    """
    position = (np.asarray(forecast) > threshold).astype(float)
    trades = np.abs(np.diff(np.concatenate([[0.0], position])))
    simple = np.expm1(np.asarray(next_returns) / 100.0)
    daily = position * simple - trades * cost_bps / 1e4
    equity = np.cumprod(1.0 + daily)
    return summarise(daily, equity, trades=int(trades.sum()), exposure=float(position.mean())), equity


def summarise(daily: np.ndarray, equity: np.ndarray, *, trades: int, exposure: float) -> dict[str, float]:
    years = len(daily) / TRADING_DAYS
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    std = daily.std(ddof=1) if len(daily) > 1 else 0.0
    return {
        "total_return": float(equity[-1] - 1.0),
        "annual_return": float(equity[-1] ** (1.0 / years) - 1.0) if years > 0 and equity[-1] > 0 else float("nan"),
        "annual_volatility": float(std * np.sqrt(TRADING_DAYS)),
        "sharpe": float(daily.mean() / std * np.sqrt(TRADING_DAYS)) if std > 0 else 0.0,
        "max_drawdown": float(np.min(equity / peak - 1.0)),
        "trades": trades,
        "exposure": exposure,
    }
