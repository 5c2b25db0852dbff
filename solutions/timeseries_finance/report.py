"""timeseries-finance's report: forecast and loss plots or equity curves, notes, usage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.hooks import ReportText
from solutions.common.rundir import Run
from solutions.timeseries_finance.builder import forecast_interval
from solutions.timeseries_finance.scores import point_forecast


class ForecastReport:
    """What report.md says about a forecast run."""

    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        from solutions.timeseries_finance import plots

        forecast = fitted["forecast"]
        series, origins = splits.fitted["series"], splits.fitted["origins"]["test"]
        horizon = forecast["horizon"]
        dates = series.dates[origins + horizon]
        target = forecast["target"]
        baselines = self.baseline_forecasts(splits, target, horizon)
        names = [plots.forecast_plot(run / "forecast_vs_realized.png", dates, splits.test.y, y_score, baselines,
                                     target=target, horizon=horizon, interval=forecast_interval(forecast, y_score)
                                     if target == "return" else None)]
        if target == "volatility":
            names.append(plots.loss_difference_plot(run / "qlike_vs_baselines.png", dates, splits.test.y,
                                                    y_score[:, 0], baselines))
        else:
            from solutions.timeseries_finance.scores import backtest

            cost = splits.fitted["cost_bps"]
            next_day = series.returns[origins + 1]
            curves = {"model (long/flat)": backtest(point_forecast(y_score), next_day, cost_bps=cost)[1]}
            for name in ("ewma", "naive"):
                curves[f"{name} (long/flat)"] = backtest(baselines[name], next_day, cost_bps=cost)[1]
            curves["buy and hold"] = np.cumprod(1 + np.expm1(next_day / 100.0))
            names.append(plots.equity_plot(run / "equity_curves.png", series.dates[origins + 1], curves, cost))
        return names

    def report_text(self, splits, run_path: Path) -> ReportText:
        """The report's heading, notes on the split and method, and usage."""
        return ReportText(_title(splits), _notes(splits), _usage(run_path))


def _title(splits) -> str:
    what = splits.fitted["target"]
    return f"timeseries-finance: {what} forecast on {splits.source.get('name')}"


def _notes(splits) -> list[str]:
    s = splits.source
    notes = [f"Split {s['split']}. Feature scaling and the mean return come from the training days only; "
             "test forecasts were made one day at a time from past data.",
             f"Features per day ({', '.join(s['features'])}): log returns in percent, range-based variances "
             "(Garman-Klass, Parkinson) in percent^2, log volume change.",
             "Baselines on the same test days: naive (yesterday), historical_mean (training days), ewma "
             "(RiskMetrics, lambda 0.94), garch11 and gjr_garch11 (arch, constant mean, fitted on the "
             "training days, then run forward with fixed parameters)."]
    notes.append(f"Longest calendar gap between rows: {s.get('longest_gap_days')} days.")
    return notes


def _usage(run_path: Path) -> str:
    return f"""```
solutions predict {run_path}                         # next forecast after the run's own data
solutions predict {run_path} --data recent.csv       # after your latest prices (date, OHLC, volume)
solutions predict {run_path} --data recent.csv --tflite
```
The models take float32 windows `[batch, lookback, features]` of the raw features that
`solutions/timeseries_finance/features.py` computes from prices (order, units, lookback and the
training statistics in `forecast.json`); the scaler is inside the model. The TFLite file of a
recurrent model has batch 1 (metrics.json `export.float32.input_shape`). The output is the
variance of the next H days' log return in percent^2, or the return forecast in percent."""
