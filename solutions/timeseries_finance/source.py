"""timeseries-finance's data source: prices -> causal features -> windows inside each time split,
with statistics from the training days only."""

from __future__ import annotations

from typing import Any

import numpy as np

from solutions.common.errors import UserError
from solutions.common.rundir import Run
from solutions.timeseries_finance.data import load_prices

MIN_WINDOWS = {"train": 100, "val": 20, "test": 20}


class PriceSource:
    """Price tables as split-respecting windows (features.py)."""

    def load_splits(self, options: dict[str, Any]):
        from solutions.common.catalogue import fingerprint_arrays
        from solutions.common.data import Split, Splits
        from solutions.timeseries_finance.features import (
            Statistics,
            compute_features,
            split_bounds,
            targets,
            window_origins,
            windows,
        )

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

    def pinned_options(self, run: Run) -> dict[str, Any]:
        """Also the feature order the run's model reads (checked against the data's)."""
        return {**super().pinned_options(run), "feature_names": run.config["source"]["features"]}
