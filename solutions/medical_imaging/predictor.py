"""medical-imaging's predictions: scans -> the label under the stored rule, calibrated
probabilities, optional Grad-CAM overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.classifier import run_labels
from solutions.common.errors import UserError
from solutions.common.files import unused_path
from solutions.common.rundir import Run


class ScreeningPredictor:
    """Answers for new scans."""

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """Per scan: the label under the stored decision rule, the calibrated probabilities, and
        with `explain` a Grad-CAM overlay written into `explain_dir`."""
        if not inputs:
            raise UserError("give one or more image or DICOM files to screen")
        threshold = self.load_fitted(run)["decision"]["threshold"]
        answers, x, chosen = self.classify_files(run, inputs, options, variant)
        positive = run_labels(run)[1] if threshold is not None else None
        for answer in answers:
            answer.update(threshold=threshold, positive_class=positive)
        if options.get("explain"):
            from solutions.common.gradcam import gradcam, save_overlay

            out_dir = Path(options.get("explain_dir") or ".")
            out_dir.mkdir(parents=True, exist_ok=True)
            heat = gradcam(self.load_model(run), x, chosen)
            for answer, image, h in zip(answers, x.astype(np.uint8), heat):
                target = unused_path(out_dir, f"{Path(answer['input']).stem}.gradcam", ".png")
                answer["gradcam"] = str(save_overlay(image, h, target))
        return answers

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        lines = []
        for a in answers:
            if a["threshold"] is not None:
                lines.append(f"{a['input']}: {a['label']} (p({a['positive_class']}) = {a['probabilities'][1]:.3f}, "
                             f"threshold {a['threshold']:.3f})")
            else:
                lines.append(f"{a['input']}: {a['label']} - " + ", ".join(f"{t['label']} {t['probability']:.3f}"
                                                                       for t in a["top"]))
        lines += [f"  Grad-CAM: {a['gradcam']}" for a in answers if "gradcam" in a]
        return lines
