"""`timeseries-finance`: next-day (or H-day) volatility and return forecasts of a daily price
series, scored against naive, historical-mean, EWMA and GARCH forecasts on the same test days.

What is the domain's own: price tables and their repairs (data.py), causal features, targets and
split-respecting windows (features.py), the four forecasters (model.py), the classical baselines
(baselines.py), the scores and backtest (scores.py) and the plots (plots.py). Training, resuming,
walk-forward folds, export and its checks are the shared layer.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common import ranges
from solutions.common.errors import UserError
from solutions.common.rundir import Run
from solutions.common.solution import DatasetInfo, Solution, register
from solutions.timeseries_finance.data import ARCH_DATASETS, load_prices, read_csv
from solutions.timeseries_finance.features import TARGETS
from solutions.timeseries_finance.scores import point_forecast

MODEL_NAMES = ("gru", "lstm", "conv1d", "transformer")
MIN_WINDOWS = {"train": 100, "val": 20, "test": 20}
INTERVAL_LEVELS = (0.1, 0.9)  # the 80% interval `predict` prints, calibrated on the validation days


@register
class TimeseriesFinance(Solution):
    name = "timeseries-finance"
    summary = "next-day volatility or return of a daily price series, judged against naive/EWMA/GARCH"
    default_dataset = "sp500"
    datasets = tuple(DatasetInfo(k, f"{v}, daily OHLCV 1999-2018 (ships with the arch package)")
                     for k, v in ARCH_DATASETS.items())
    models = MODEL_NAMES
    default_model = "gru"  # best measured on sp500 volatility (README)
    layers_module = "solutions.timeseries_finance.model"
    headline_metric = "qlike"
    train_defaults = {"epochs": 60, "patience": 10, "batch_size": 64, "learning_rate": 1e-3,
                      "val_split": 0.1, "test_split": 0.2}

    # --- options -----------------------------------------------------------------------------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", choices=self.models, default=self.default_model)
        parser.add_argument("--target", choices=TARGETS, default="volatility",
                            help="volatility: variance of the next H days' log returns (QLIKE); "
                                 "return: their sum (MSE, or quantiles)")
        parser.add_argument("--horizon", type=ranges.POSITIVE, default=1, help="forecast the next H trading days")
        parser.add_argument("--lookback", type=ranges.integer(2), default=22, help="trading days in each input window")
        parser.add_argument("--quantiles", action="store_true",
                            help="return target: forecast the 10/50/90%% quantiles (pinball loss)")
        parser.add_argument("--width", type=ranges.POSITIVE, default=32, help="units (recurrent) or channels (conv1d, transformer)")
        parser.add_argument("--depth", type=ranges.POSITIVE, default=1, help="recurrent layers, conv stacks or encoder blocks")
        parser.add_argument("--dropout", type=ranges.DROPOUT, default=0.1)
        parser.add_argument("--walk-forward", type=ranges.integer(2), default=None, metavar="K",
                            help="cut the test period into K blocks; each is tested by a model re-fitted "
                                 "on everything before it (the last block's model is the exported one)")
        parser.add_argument("--cost-bps", type=ranges.NON_NEGATIVE_REAL, default=5.0,
                            help="return target: transaction cost per position change, in basis points")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", default=None,
                            help="a CSV of recent daily prices (default: the run's own dataset)")

    def headline(self, options: dict[str, Any]) -> str:
        return "qlike" if options.get("target", "volatility") == "volatility" else "rmse"

    def folds(self, options: dict[str, Any]) -> int | None:
        return options.get("walk_forward")

    def resampling(self, options: dict[str, Any]) -> dict[str, str]:
        k = options.get("walk_forward")
        return {"scheme": "walk-forward",
                "note": f"The test period is cut into {k} consecutive blocks. Fold 1 is the last block, tested by "
                        "the exported model; fold f tests block "
                        f"{k}-f+1 with a model trained from scratch on every day before it (expanding window, "
                        "the validation stretch just before the block). Baselines are re-fitted the same way."}

    def search_space(self, hp, options: dict[str, Any]) -> dict[str, Any]:
        """Model family, window length, width, depth, dropout."""
        from solutions.common.search_space import optimisation

        return {"model": hp.Choice("model", ["gru", "lstm", "conv1d", "transformer"]),
                "lookback": hp.Choice("lookback", [10, 22, 44, 66]),
                "width": hp.Choice("width", [16, 32, 64]),
                "depth": hp.Int("depth", 1, 2),
                "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1),
                **optimisation(hp, lr=(1e-4, 3e-3), batches=[32, 64, 128])}

    # --- data --------------------------------------------------------------------------------
    def check_data_source(self, options: dict[str, Any]) -> None:
        if options.get("data"):
            path = Path(options["data"]).expanduser()
            if not path.is_file():
                raise UserError(f"{path} is not a file (give a CSV with a date column and Close)")
            read_csv(path)  # a missing close/date column is answered now, before TensorFlow loads
        elif options["dataset"] not in ARCH_DATASETS:
            raise UserError(f"unknown dataset {options['dataset']!r} for timeseries-finance; known: "
                            f"{', '.join(ARCH_DATASETS)}, or --data FILE.csv")
        if options.get("horizon", 1) < 1 or options.get("lookback", 22) < 2:
            raise UserError("--horizon must be at least 1 and --lookback at least 2")
        if options.get("quantiles") and options.get("target") != "return":
            raise UserError("--quantiles applies to --target return (a volatility forecast is a variance)")
        if options.get("walk_forward") is not None and options["walk_forward"] < 2:
            raise UserError(f"--walk-forward {options['walk_forward']}: needs at least 2 blocks")

    def load_splits(self, options: dict[str, Any]):
        from solutions.common.catalogue import fingerprint_arrays
        from solutions.common.data import Split, Splits
        from solutions.timeseries_finance.features import (Statistics, compute_features, split_bounds, targets,
                                                           window_origins, windows)

        table = load_prices(options)
        series = compute_features(table)
        pinned = options.get("feature_names")
        if pinned and tuple(pinned) != series.feature_names:
            raise UserError(f"the run's model reads features {list(pinned)} but this data gives "
                            f"{list(series.feature_names)} (open/high/low/volume columns differ)")
        k = options.get("walk_forward")
        block = k - int(options.get("fold", 1)) + 1 if k else None
        bounds = split_bounds(len(series), val_fraction=options["val_split"], test_fraction=options["test_split"],
                              walk_forward=k, block=block)
        stats = Statistics.fit(series, bounds.train)
        lookback, horizon = options["lookback"], options["horizon"]
        y_all = targets(series.returns, target=options["target"], horizon=horizon, mean_return=stats.mean_return)
        origins, parts = {}, {}
        for name in ("train", "val", "test"):
            origins[name] = window_origins(*getattr(bounds, name), lookback=lookback, horizon=horizon)
            if len(origins[name]) < MIN_WINDOWS[name]:
                a, b = getattr(bounds, name)
                raise UserError(f"the {name} split has {b - a} days, which leave {len(origins[name])} windows of "
                                f"{lookback} + {horizon} days (need {MIN_WINDOWS[name]}); give a longer series "
                                "or a shorter --lookback")
            parts[name] = Split(windows(series.features, origins[name], lookback), y_all[origins[name]].astype(np.float32))
        dates = series.dates
        rule = ("by time: " + "; ".join(f"{k_} {v}" for k_, v in bounds.describe(dates).items())
                + f"; windows of {lookback} days + {horizon}-day target inside one split")
        source = {
            "name": table.name,
            "fingerprint": fingerprint_arrays(table.frame.index.to_numpy().astype("int64"),
                                              table.frame.to_numpy(dtype=float)),
            "split": rule,
            "repairs": dict(table.repairs),
            "longest_gap_days": table.longest_gap_days,
            "days": len(series),
            "first_day": str(dates[0]),
            "last_day": str(dates[-1]),
            "features": list(series.feature_names),
            "test_days": {"first_forecast_for": str(dates[origins["test"][0] + 1]),
                          "last_forecast_for": str(dates[origins["test"][-1] + horizon])},
        }
        fitted = {"series": series, "stats": stats, "bounds": bounds, "origins": origins, "target": options["target"],
                  "horizon": horizon, "cost_bps": float(options.get("cost_bps", 5.0))}
        return Splits(parts["train"], parts["val"], parts["test"], [self.output_name(options)], source=source,
                      fitted=fitted)

    @staticmethod
    def output_name(options: dict[str, Any]) -> str:
        from solutions.timeseries_finance.model import output_kind

        return output_kind(options["target"], bool(options.get("quantiles")))

    def pinned_options(self, run: Run) -> dict[str, Any]:
        return {"feature_names": run.config["source"]["features"]}

    # --- model -------------------------------------------------------------------------------
    def build_model(self, options: dict[str, Any], splits):
        from solutions.timeseries_finance.model import QUANTILES, build_model

        stats = splits.fitted["stats"]
        y = splits.train.y.astype(float)
        bounds = (-20.0, 20.0)
        if options["target"] == "volatility":
            bias = float(np.log(y.mean()))  # start at the training variance: QLIKE's constant optimum
            bounds = (bias - 7.0, float(np.log(y.max())) + 1.0)  # 1/1000 of the mean .. e x the largest seen
        elif options.get("quantiles"):
            bias = [float(np.quantile(y, q)) for q in QUANTILES]
        else:
            bias = float(y.mean())
        return build_model(
            options["model"], lookback=options["lookback"], n_features=splits.train.x.shape[2],
            target=options["target"], quantiles=bool(options.get("quantiles")),
            feature_mean=stats.feature_mean, feature_variance=stats.feature_variance, output_bias=bias,
            log_variance_range=bounds,
            width=options["width"], depth=options["depth"], dropout=options["dropout"],
        )

    def compile(self, model, optimizer) -> None:
        from solutions.timeseries_finance.model import loss_for

        model.compile(optimizer=optimizer, loss=loss_for(model))

    def training_datasets(self, splits, options: dict[str, Any]):
        """Windows are self-contained, so their order within the training days may be shuffled;
        no window reaches past the training days."""
        from solutions.common.pipeline import make_dataset

        train = make_dataset(splits.train.x, splits.train.y, batch_size=options["batch_size"], training=True,
                             seed=options["seed"])
        val = make_dataset(splits.val.x, splits.val.y, batch_size=options["batch_size"])
        return train, val

    def finalize_model(self, model, splits, options):
        """Write what a forecast needs besides the model (feature order, training statistics) and the
        80% interval calibrated on the validation days."""
        from solutions.common.prediction import predict_keras

        val_pred = predict_keras(model, splits.val.x)
        stats, series = splits.fitted["stats"], splits.fitted["series"]
        horizon = options["horizon"]
        realised = _summed_returns(series.returns, splits.fitted["origins"]["val"], horizon)
        if options["target"] == "volatility":
            # standardised returns on the validation days: an interval that needs no normality assumption
            z = (realised - horizon * stats.mean_return) / np.sqrt(val_pred[:, 0])
            interval = {"kind": "scaled_by_volatility", "low": float(np.quantile(z, INTERVAL_LEVELS[0])),
                        "high": float(np.quantile(z, INTERVAL_LEVELS[1]))}
        elif options.get("quantiles"):
            interval = {"kind": "model_quantiles"}
        else:
            residual = realised - val_pred[:, 0]
            interval = {"kind": "residual_quantiles", "low": float(np.quantile(residual, INTERVAL_LEVELS[0])),
                        "high": float(np.quantile(residual, INTERVAL_LEVELS[1]))}
        interval["levels"] = list(INTERVAL_LEVELS)
        return model, {"forecast": {
            "target": options["target"], "horizon": horizon, "lookback": options["lookback"],
            "quantiles": bool(options.get("quantiles")), "features": list(series.feature_names),
            "units": "log returns in percent; variances in percent^2",
            "statistics": stats.to_json(), "interval": interval,
        }}

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        run.write_json("forecast.json", fitted["forecast"])

    def load_fitted(self, run: Run) -> dict[str, Any]:
        return {"forecast": run.read_json("forecast.json")}

    def model_inputs(self, split) -> np.ndarray:
        return split.x.astype(np.float32)

    def representative_samples(self, splits) -> np.ndarray:
        """Windows spread over the whole training period (calm and turbulent years)."""
        idx = np.linspace(0, len(splits.train) - 1, min(300, len(splits.train))).astype(int)
        return splits.train.x[idx].astype(np.float32)

    def agreement(self, reference: np.ndarray, other: np.ndarray, fitted: dict) -> float:
        """Volatility: share of forecasts within 1% of Keras's. Return: share with the same long/flat
        decision (the backtest's), i.e. the same sign of the point forecast."""
        if fitted["forecast"]["target"] == "volatility":
            return float(np.mean(np.abs(other - reference) <= 0.01 * np.abs(reference)))
        return float(np.mean((point_forecast(reference) > 0) == (point_forecast(other) > 0)))

    # --- evaluation --------------------------------------------------------------------------
    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        from solutions.timeseries_finance.scores import quantile_scores, return_scores, variance_scores

        forecast = fitted["forecast"]
        if forecast["target"] == "volatility":
            return variance_scores(y_true, y_score[:, 0])
        mean = forecast["horizon"] * forecast["statistics"]["mean_return"]
        scores = return_scores(y_true, point_forecast(y_score), mean)
        return {**scores, **quantile_scores(y_true, y_score)} if forecast["quantiles"] else scores

    def baseline_forecasts(self, splits, target: str, horizon: int) -> dict[str, np.ndarray]:
        """Every baseline's forecasts at the test origins (computed once per splits)."""
        from solutions.timeseries_finance.baselines import return_baselines, variance_baselines

        cache = splits.fitted.setdefault("baseline_forecasts", {})
        if target not in cache:
            make = variance_baselines if target == "volatility" else return_baselines
            full = make(splits.fitted["series"], splits.fitted["stats"], splits.fitted["bounds"].train, horizon)
            cache[target] = {name: f[splits.fitted["origins"]["test"]] for name, f in full.items()}
        return cache[target]

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        from solutions.timeseries_finance.scores import return_scores, variance_scores

        target, horizon, stats = splits.fitted["target"], splits.fitted["horizon"], splits.fitted["stats"]
        forecasts = self.baseline_forecasts(splits, target, horizon)
        y = splits.test.y.astype(float)
        if target == "volatility":
            return {name: variance_scores(y, f) for name, f in forecasts.items()}
        return {name: return_scores(y, f, horizon * stats.mean_return) for name, f in forecasts.items()}

    def test_extras(self, splits, y_score: np.ndarray, fitted: dict) -> dict[str, Any]:
        """The 80% interval's coverage on the test days; for returns, the long/flat backtest after
        costs of the model and of every baseline against buy-and-hold."""
        from solutions.timeseries_finance.scores import backtest, interval_coverage, summarise

        forecast = fitted["forecast"]
        series, origins = splits.fitted["series"], splits.fitted["origins"]["test"]
        horizon, mean = forecast["horizon"], forecast["horizon"] * forecast["statistics"]["mean_return"]
        realised = _summed_returns(series.returns, origins, horizon)
        low, high = forecast_interval(forecast, y_score)
        extras: dict[str, Any] = {"interval": {
            "nominal": INTERVAL_LEVELS[1] - INTERVAL_LEVELS[0], "kind": forecast["interval"]["kind"],
            "coverage": interval_coverage(realised, low, high)}}
        if forecast["target"] != "return":
            return extras
        cost = splits.fitted["cost_bps"]
        next_day = series.returns[origins + 1]  # positions are held one day at a time
        results = {"model": backtest(point_forecast(y_score), next_day, cost_bps=cost)[0]}
        for name, f in self.baseline_forecasts(splits, "return", horizon).items():
            results[name] = backtest(f, next_day, cost_bps=cost)[0]
        simple = np.expm1(next_day / 100.0)
        hold = simple.copy()
        hold[0] -= cost / 1e4
        results["buy_and_hold"] = summarise(hold, np.cumprod(1 + hold), trades=1, exposure=1.0)
        extras["backtest"] = {"cost_bps": cost, "rule": "long when the forecast is above 0, else flat; "
                              "the position taken at day t's close earns day t+1's return",
                              "historical_mean_forecast": mean, **results}
        return extras

    def verdict(self, metrics: dict[str, Any], options: dict[str, Any]) -> list[str]:
        lines = super().verdict(metrics, options)
        if options.get("target") == "return":
            test = metrics["test"]
            r2 = test.get("r2_oos")
            lines.append(f"Out-of-sample R^2 against the training mean: {r2:+.4f} "
                         + ("(the model beat the historical mean)." if r2 > 0 else
                            "(the model did NOT beat the historical mean)."))
            bt = metrics.get("backtest")
            if bt:
                m, h = bt["model"], bt["buy_and_hold"]
                beat = m["sharpe"] > h["sharpe"]
                lines.append(f"Backtest after {bt['cost_bps']:g} bps costs: long/flat Sharpe {m['sharpe']:.2f}, "
                             f"annual return {m['annual_return']:+.1%}, max drawdown {m['max_drawdown']:.1%}; "
                             f"buy-and-hold Sharpe {h['sharpe']:.2f}, {h['annual_return']:+.1%}, "
                             f"{h['max_drawdown']:.1%}: the strategy {'beat' if beat else 'did NOT beat'} "
                             "buy-and-hold on Sharpe.")
        interval = metrics.get("interval")
        if interval:
            lines.append(f"The {interval['nominal']:.0%} forecast interval covered {interval['coverage']:.1%} "
                         "of the test days.")
        return lines

    # --- outputs -----------------------------------------------------------------------------
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

    def report_title(self, splits) -> str:
        what = splits.fitted["target"]
        return f"timeseries-finance: {what} forecast on {splits.source.get('name')}"

    def report_notes(self, splits) -> list[str]:
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

    def usage(self, run_path: Path) -> str:
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


def _summed_returns(returns: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The realised log return over days t+1..t+horizon for each origin t."""
    from solutions.timeseries_finance.features import targets

    return targets(returns, target="return", horizon=horizon, mean_return=0.0)[origins]


def forecast_interval(forecast: dict[str, Any], out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 80% interval for the next H days' log return from a model output and forecast.json."""
    interval = forecast["interval"]
    if interval["kind"] == "model_quantiles":
        return out[:, 0], out[:, 2]
    if interval["kind"] == "residual_quantiles":
        return out[:, 0] + interval["low"], out[:, 0] + interval["high"]
    center = forecast["horizon"] * forecast["statistics"]["mean_return"]
    scale = np.sqrt(out[:, 0])
    return center + interval["low"] * scale, center + interval["high"] * scale
