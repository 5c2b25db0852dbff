"""medical-imaging's report: ROC/PR, reliability and Grad-CAM plots, the research-use notes, usage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.hooks import ReportText
from solutions.common.rundir import Run


class ScreeningReport:
    """What report.md says about a screening run."""

    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        from solutions.common.calibration import uncalibrated
        from solutions.medical_imaging.plots import (
            gradcam_grid,
            reliability_diagram,
            roc_pr_curves,
        )

        names = super().plots(run, splits, y_score, model, fitted)
        decision = fitted["decision"]
        roc_pr_curves(splits.test.y, y_score, splits.class_names, decision["threshold"], run / "roc_pr.png")
        reliability_diagram(splits.test.y, uncalibrated(y_score, decision["temperature"]), y_score,
                            run / "reliability.png")
        gradcam_grid(model, splits.test.x, splits.test.y, self.predicted_classes(y_score, fitted),
                     splits.class_names, run / "gradcam.png")
        return names + ["roc_pr.png", "reliability.png", "gradcam.png"]

    def report_text(self, splits, run_path: Path) -> ReportText:
        """Research-use heading and notes (before the shared image notes), screening usage."""
        shared = super().report_text(splits, run_path)
        return ReportText(_title(splits), _notes(splits) + shared.notes, _usage(run_path))


def _title(splits) -> str:
    return f"Medical image screening on {splits.source.get('name')} (research use only)"


def _notes(splits) -> list[str]:
    notes = [
        "**Not for clinical use.** This model is a research prototype trained on a public dataset; it has "
        "not been validated on your population, scanner or protocol and must not guide patient care.",
        "Probabilities are temperature-calibrated and the decision threshold was chosen on the validation "
        "split only (decision.json); the test split was used once, for the numbers above.",
        "The threshold rule is Youden's J by default: it maximises sensitivity + specificity, which does not "
        "depend on how common the disease is, so it carries over to a test population with another "
        "prevalence (PneumoniaMNIST's test split has more normal cases than its training split).",
        "Horizontal flips are off for radiographs, CT, OCT and ultrasound (left and right are anatomy); "
        "on for cells, tissue and skin images.",
    ]
    return notes


def _usage(run_path: Path) -> str:
    return f"""```
solutions predict {run_path} scan.png                 # label, calibrated probability, decision
solutions predict {run_path} scan.dcm --explain       # also writes scan.gradcam.png
solutions predict {run_path} scan.png --tflite        # the float32 TFLite model
```
The exported models output calibrated probabilities (temperature folded in); apply the threshold
from `decision.json` to the positive-class probability. On a device, `model_edge.tflite` and
`model_edge_uint8.tflite` take one RGB frame (gray is made inside the graph) and carry their
metadata, so MediaPipe Tasks' `ImageClassifier` loads them as they are. A binary screen's threshold
is folded into them: their top category is the run's decision, and the positive class scores 0.5 at
the threshold (the output's metadata says how to get the calibrated probability back)."""
