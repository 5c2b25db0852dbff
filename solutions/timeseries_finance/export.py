"""timeseries-finance's export adapter: float32 windows in, forecast.json beside the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from solutions.common.rundir import Run


class ForecastExport:
    """What the exported models take, and what a forecast needs besides them."""

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        run.write_json("forecast.json", fitted["forecast"])

    def load_fitted(self, run: Run) -> dict[str, Any]:
        return {"forecast": run.read_json("forecast.json")}

    def representative_samples(self, splits) -> np.ndarray:
        """Windows spread over the whole training period (calm and turbulent years)."""
        idx = np.linspace(0, len(splits.train) - 1, min(300, len(splits.train))).astype(int)
        return splits.train.x[idx].astype(np.float32)
