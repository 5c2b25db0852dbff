"""timeseries-finance's export adapter: float32 windows in, forecast.json beside the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from solutions.common.rundir import Run


def feature_recipe(splits) -> dict[str, Any]:
    """How to build the model's input window from prices, for a client without the kit."""
    from solutions.timeseries_finance.features import FEATURE_FORMULAS

    names = list(splits.fitted["series"].feature_names)
    return {"feature_formulas": {name: FEATURE_FORMULAS[name] for name in names},
            "window": "the last `lookback` trading days, oldest first, one row of `features` (in that order) "
                      "each; raw values, every one finite (the model scales them with the training statistics "
                      "it holds); reference: solutions/timeseries_finance/features.py in keras-solutions-kit"}


class ForecastExport:
    """What the exported models take, and what a forecast needs besides them."""

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        run.write_json("forecast.json", {**fitted["forecast"], **feature_recipe(splits)})

    def load_fitted(self, run: Run) -> dict[str, Any]:
        return {"forecast": run.read_json("forecast.json")}

    def tflite_tensors(self, splits, options, variant: str):
        """The feature window with its feature order, and what the forecast means (units, horizon)."""
        from solutions.common.tflite_metadata import TensorInfo
        from solutions.timeseries_finance.features import FEATURE_FORMULAS
        from solutions.timeseries_finance.model import QUANTILES, output_kind

        features = list(splits.fitted["series"].feature_names)
        horizon, lookback = options["horizon"], options["lookback"]
        window = TensorInfo(
            "feature_window",
            f"The last {lookback} trading days (oldest first) x {len(features)} features in this order: "
            f"{', '.join(features)}; raw values, the model scales them itself. Day t's features: "
            + "; ".join(f"{name} = {FEATURE_FORMULAS[name]}" for name in features)
            + " (also in forecast.json's `feature_formulas`). Every value must be finite.",
            dimension_names=("batch", "day", "feature"))
        kind = output_kind(options["target"], bool(options.get("quantiles")))
        summed = f"the log return (percent) summed over the next {horizon} trading day(s)"
        if kind == "variance":
            out = TensorInfo("variance", f"Forecast variance of {summed}, in percent^2 (square root: volatility).",
                             dimension_names=("batch", "variance"))
        elif kind == "return_quantiles":
            out = TensorInfo("return_quantiles", f"The {', '.join(f'{q:.0%}' for q in QUANTILES)} quantiles of {summed}.",
                             dimension_names=("batch", "quantile"))
        else:
            out = TensorInfo("return", f"Forecast of {summed}.", dimension_names=("batch", "return"))
        return [window], [out]

    def serving_model(self, model, splits, fitted: dict, options):
        """serving_default: feature windows [batch, lookback, features] -> the model's forecast
        (variance, return or return quantiles); `forecast`: the same windows -> the forecast with
        its 80% interval for the log return (and the volatility, for a variance model)."""
        from solutions.common.serving_export import Endpoint, ServingModel, tf
        from solutions.timeseries_finance.builder import forecast_interval
        from solutions.timeseries_finance.model import output_kind

        forecast = fitted["forecast"]
        kind = output_kind(options["target"], bool(options.get("quantiles")))
        spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="window"),)

        def finite(window):  # NaN or inf in a window (ln of a zero range, unfloored) gave NaN with 200 OK
            return tf.debugging.assert_all_finite(window, "a window value is NaN or infinite; every feature "
                                                          "must be finite (see forecast.json feature_formulas)")

        def with_interval(window):
            out = model(finite(window), training=False)
            low, high = forecast_interval(forecast, out, sqrt=tf.sqrt)
            if kind == "variance":
                point = {"variance": out[:, 0], "volatility": tf.sqrt(out[:, 0])}
            else:
                point = {"log_return": out[:, 1] if kind == "return_quantiles" else out[:, 0]}
            return {**point, "low": low, "high": high}

        return ServingModel((
            Endpoint("serving_default", lambda window: {kind: model(finite(window), training=False)}, spec),
            Endpoint("forecast", with_interval, spec),
        ), track=(model,), instances=self.serving_instances(splits.test))

    def representative_samples(self, splits) -> np.ndarray:
        """Windows spread over the whole training period (calm and turbulent years)."""
        idx = np.linspace(0, len(splits.train) - 1, min(300, len(splits.train))).astype(int)
        return splits.train.x[idx].astype(np.float32)
