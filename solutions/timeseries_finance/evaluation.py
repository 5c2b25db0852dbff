"""timeseries-finance's evaluation: forecast scores against naive, historical-mean, EWMA and GARCH
forecasts on the same days, interval coverage and the long/flat backtest."""

from __future__ import annotations

from typing import Any

import numpy as np

from solutions.timeseries_finance.builder import (
    INTERVAL_LEVELS,
    summed_returns,
    forecast_interval,
)
from solutions.timeseries_finance.scores import point_forecast


class ForecastEvaluation:
    """Scores, baselines and the backtest of a forecast run."""

    whole_data_refused = ("other prices are usually a longer series of the same market, whose early days the run "
                          "trained on; their test split is their latest days")

    def agreement(self, reference: np.ndarray, other: np.ndarray, fitted: dict) -> float:
        """Volatility: share of forecasts within 1% of Keras's. Return: share with the same long/flat
        decision (the backtest's), i.e. the same sign of the point forecast."""
        if fitted["forecast"]["target"] == "volatility":
            return float(np.mean(np.abs(other - reference) <= 0.01 * np.abs(reference)))
        return float(np.mean((point_forecast(reference) > 0) == (point_forecast(other) > 0)))

    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        from solutions.timeseries_finance.scores import (
            quantile_scores,
            return_scores,
            variance_scores,
        )

        forecast = fitted["forecast"]
        if forecast["target"] == "volatility":
            return variance_scores(y_true, y_score[:, 0])
        mean = forecast["horizon"] * forecast["statistics"]["mean_return"]
        scores = return_scores(y_true, point_forecast(y_score), mean)
        return {**scores, **quantile_scores(y_true, y_score)} if forecast["quantiles"] else scores

    def baseline_forecasts(self, splits, target: str, horizon: int) -> dict[str, np.ndarray]:
        """Every baseline's forecasts at the test origins (computed once per splits)."""
        from solutions.timeseries_finance.baselines import (
            return_baselines,
            variance_baselines,
        )

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
        from solutions.timeseries_finance.scores import (
            backtest,
            interval_coverage,
            summarise,
        )

        forecast = fitted["forecast"]
        series, origins = splits.fitted["series"], splits.fitted["origins"]["test"]
        horizon, mean = forecast["horizon"], forecast["horizon"] * forecast["statistics"]["mean_return"]
        realised = summed_returns(series.returns, origins, horizon)
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
