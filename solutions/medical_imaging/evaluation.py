"""medical-imaging's evaluation: screening metrics at the stored threshold, calibration error,
and the prior as the baseline."""

from __future__ import annotations

import numpy as np


class ScreeningEvaluation:
    """What a clinician reads: AUC, sensitivity, specificity at the threshold, ECE."""

    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        from solutions.common.calibration import (
            expected_calibration_error,
            screening_metrics,
            uncalibrated,
        )

        decision = fitted["decision"]
        metrics = screening_metrics(y_true, y_score, decision["threshold"])
        metrics["ece"] = expected_calibration_error(y_score, y_true)
        metrics["ece_uncalibrated"] = expected_calibration_error(uncalibrated(y_score, decision["temperature"]), y_true)
        return metrics

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        """Always answer the training prior: AUC 0.5, the accuracy of the majority class."""
        from solutions.common.calibration import (
            expected_calibration_error,
            screening_metrics,
        )

        n = len(splits.class_names)
        prior = np.bincount(splits.train.y, minlength=n) / len(splits.train)
        probs = np.tile(prior, (len(splits.test), 1))
        metrics = screening_metrics(splits.test.y, probs, 0.5 if n == 2 else None)
        metrics["ece"] = expected_calibration_error(probs, splits.test.y)
        return {"prior": metrics}

    def predicted_classes(self, y_score: np.ndarray, fitted: dict) -> np.ndarray:
        from solutions.common.calibration import decide

        return decide(y_score, fitted["decision"]["threshold"])
