"""timeseries-finance's predictions: the next forecast after the latest prices, with its interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.errors import UserError
from solutions.common.rundir import Run
from solutions.timeseries_finance.builder import forecast_interval
from solutions.timeseries_finance.data import load_prices, read_csv
from solutions.timeseries_finance.scores import point_forecast


class ForecastPredictor:
    """The next forecast from a run's model."""

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """The next forecast after the latest prices (`data`, else the run's own dataset), with its
        80% interval for the log return."""
        from solutions.common.prediction import run_outputs
        from solutions.timeseries_finance.features import compute_features, windows

        if inputs:
            raise UserError("timeseries-finance predicts from prices: give --data recent.csv (or nothing for the "
                            "run's own dataset)")
        forecast = self.load_fitted(run)["forecast"]
        table = read_csv(Path(options["data"])) if options.get("data") else load_prices(run.config["options"])
        series = compute_features(table)
        if list(series.feature_names) != forecast["features"]:
            raise UserError(f"the run's model reads features {forecast['features']} but this data gives "
                            f"{list(series.feature_names)} (open/high/low/volume columns differ)")
        lookback = forecast["lookback"]
        if len(series) < lookback:
            raise UserError(f"need at least {lookback + 1} price rows for one {lookback}-day window, "
                            f"got {len(series) + 1}")
        x = windows(series.features, np.array([len(series) - 1]), lookback)
        out = run_outputs(run, self, x, variant)
        low, high = forecast_interval(forecast, out)
        answer: dict[str, Any] = {
            "made_at": str(series.dates[-1]), "horizon": forecast["horizon"], "target": forecast["target"],
            "model": variant or "keras", "repairs": {k: int(v) for k, v in table.repairs.items() if v},
            "interval": {"low": float(low[0]), "high": float(high[0]), "kind": forecast["interval"]["kind"],
                         "levels": forecast["interval"]["levels"]}}
        if forecast["target"] == "volatility":
            answer["variance"] = float(out[0, 0])
        else:
            answer["log_return"] = float(point_forecast(out)[0])
        return [answer]

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        lines = []
        for a in answers:
            for repair, count in a["repairs"].items():
                lines.append(f"Data repair: {count} {repair.replace('_', ' ')}")
            horizon = a["horizon"]
            days = "day" if horizon == 1 else f"{horizon} days"
            lines.append(f"Forecast made at the close of {a['made_at']} for the next trading {days} "
                         f"({'Keras' if a['model'] == 'keras' else 'TFLite'}):")
            if a["target"] == "volatility":
                h = a["variance"]
                lines.append(f"  variance {h:.4f} %^2 -> volatility {np.sqrt(h):.3f}% over the {days}, "
                             f"annualised {np.sqrt(252 * h / horizon):.1f}%")
            else:
                point = a["log_return"]
                lines.append(f"  log return {point:+.4f}% -> {'long' if point > 0 else 'flat'} under the long/flat rule")
            interval = a["interval"]
            lines.append(f"  80% interval for the log return: [{interval['low']:+.3f}%, {interval['high']:+.3f}%] "
                         f"({interval['kind'].replace('_', ' ')})")
        return lines
