"""medical-imaging's export adapter: the decision rule saved beside the model, and read back."""

from __future__ import annotations

from typing import Any

from solutions.common.rundir import Run


class ScreeningExport:
    """decision.json: the temperature, the threshold and the rule that chose it."""

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        super().write_artifacts(run, splits, model, fitted)
        run.write_json("decision.json", fitted["decision"])

    def load_fitted(self, run: Run) -> dict[str, Any]:
        return {"decision": run.read_json("decision.json")}
