"""Forecast vs realised on the test days with the baselines on the same axes, where the model won
or lost against each baseline day by day, and equity curves of the return backtest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.plots import plt, save_figure
from solutions.timeseries_finance.scores import point_forecast

SHOWN_BASELINES = ("garch11", "ewma", "historical_mean")


def forecast_plot(path: Path, dates: np.ndarray, y: np.ndarray, out: np.ndarray, baselines: dict[str, np.ndarray],
                  *, target: str, horizon: int, interval: tuple[np.ndarray, np.ndarray] | None) -> str:
    """Volatility as annualised percent (sqrt(252 h / H)); returns in percent with the 80% interval."""
    fig, ax = plt.subplots(figsize=(12, 4.8))
    if target == "volatility":
        def scale(v):
            return np.sqrt(252.0 * np.maximum(v, 0) / horizon)

        ax.scatter(dates, scale(y), s=3, color="lightgrey", label="realised |return| (annualised)")
        for name in SHOWN_BASELINES:
            ax.plot(dates, scale(baselines[name]), linewidth=0.9, label=name)
        ax.plot(dates, scale(out[:, 0]), color="black", linewidth=1.1, label="model")
        ax.set_ylabel("annualised volatility, %")
        ax.set_ylim(0, np.percentile(scale(y), 99.5) * 1.1)
    else:
        ax.scatter(dates, y, s=3, color="grey", label=f"realised {horizon}-day log return")
        if interval is not None:
            ax.fill_between(dates, interval[0], interval[1], color="tab:blue", alpha=0.15, label="model 80% interval")
        point = point_forecast(out)
        for name in ("ewma", "historical_mean"):
            ax.plot(dates, baselines[name], linewidth=0.9, label=name)
        ax.plot(dates, point, color="black", linewidth=1.0, label="model")
        ax.set_ylabel("log return, %")
    return _save(fig, ax, path, "Test period: forecast vs realised", ncol=3)


def loss_difference_plot(path: Path, dates: np.ndarray, y: np.ndarray, h: np.ndarray,
                         baselines: dict[str, np.ndarray]) -> str:
    """Cumulative QLIKE of each baseline minus the model's: a rising line is the model winning."""
    def daily(v):
        v = np.maximum(v, 1e-12)
        return np.log(v) + y / v

    model = daily(h)
    fig, ax = plt.subplots(figsize=(12, 4.2))
    for name, forecast in baselines.items():
        if name == "naive":  # orders of magnitude off; it would flatten the others
            continue
        ax.plot(dates, np.cumsum(daily(forecast) - model), linewidth=1.0, label=name)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("cumulative QLIKE(baseline) - QLIKE(model)")
    return _save(fig, ax, path, "Above zero: the model's forecasts scored better up to that day")


def equity_plot(path: Path, dates: np.ndarray, curves: dict[str, np.ndarray], cost_bps: float) -> str:
    fig, ax = plt.subplots(figsize=(12, 4.2))
    for name, equity in curves.items():
        ax.plot(dates, equity, linewidth=1.1 if name.startswith("model") else 0.9, label=name)
    ax.set_ylabel("equity (start = 1)")
    return _save(fig, ax, path, f"Test period backtest after {cost_bps:g} bps per position change")


def _save(fig, ax, path: Path, title: str, ncol: int = 1) -> str:
    """Title, legend and date ticks every time-axis plot here shares; the PNG's file name."""
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=ncol)
    fig.autofmt_xdate()
    return save_figure(fig, path).name
