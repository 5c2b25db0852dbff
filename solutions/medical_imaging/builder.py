"""medical-imaging's model builder: a prior-initialised residual CNN trained with balanced class
weights, then temperature-calibrated with a decision threshold fitted on the validation split."""

from __future__ import annotations

from typing import Any

import numpy as np


class ScreeningModelBuilder:
    """Build, weight, monitor and calibrate the screening model."""

    def build_model(self, options: dict[str, Any], splits):
        from solutions.common.vision_models import residual_cnn

        prior = np.bincount(splits.train.y, minlength=len(splits.class_names)) / len(splits.train)
        return residual_cnn(tuple(splits.train.x.shape[1:]), len(splits.class_names), width=options["width"],
                            depth=options["depth"], dropout=options["dropout"],
                            first_stride=options.get("first_stride") or 1,
                            bn_momentum=self.bn_momentum(splits, options),
                            initial_bias=np.log(np.maximum(prior, 1e-6)), name="screen")

    def epoch_callbacks(self, splits, options: dict[str, Any]) -> list:
        from solutions.medical_imaging.callbacks import ValidationAUC

        # the recalibration runs at the validation's start, before the AUC at the epoch's end
        return [*self.batch_norm_callbacks(splits, options), ValidationAUC(self.model_inputs(splits.val), splits.val.y)]

    def fit_options(self, splits, options: dict[str, Any]) -> dict[str, Any]:
        """Balanced class weights: each class contributes equally to the loss, whatever its count."""
        counts = np.bincount(splits.train.y, minlength=len(splits.class_names))
        return {"class_weight": {i: float(len(splits.train) / (len(counts) * max(c, 1))) for i, c in enumerate(counts)}}

    def finalize_model(self, model, splits, options):
        """Fit the temperature and the decision threshold on the validation split; fold T in."""
        from solutions.common.calibration import (
            fit_temperature,
            sensitivity_threshold,
            youden_threshold,
        )
        from solutions.common.prediction import predict_keras
        from solutions.common.vision_models import logits_model, with_temperature

        val_x = self.model_inputs(splits.val)
        logits = predict_keras(logits_model(model), val_x)
        temperature = fit_temperature(logits, splits.val.y)
        calibrated = with_temperature(model, temperature)
        decision: dict[str, Any] = {"temperature": temperature, "threshold": None, "rule": "arg-max",
                                    "fitted_on": "validation split"}
        if len(splits.class_names) == 2:
            score = predict_keras(calibrated, val_x)[:, 1]
            target = options.get("target_sensitivity")
            if target:
                decision.update(threshold=sensitivity_threshold(splits.val.y, score, target),
                                rule=f"validation sensitivity >= {target}")
            else:
                decision.update(threshold=youden_threshold(splits.val.y, score), rule="Youden's J")
            decision["positive_class"] = splits.class_names[1]
        print(f"Calibration: temperature {temperature:.3f}; decision rule: {decision['rule']}"
              + (f", threshold {decision['threshold']:.3f}" if decision["threshold"] is not None else ""))
        return calibrated, {"decision": decision}
