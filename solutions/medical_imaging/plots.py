"""The plots a clinical reader looks for: ROC and precision-recall, reliability, Grad-CAM."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from solutions.common.plots import plt, save_figure


def roc_pr_curves(y: np.ndarray, probs: np.ndarray, class_names: Sequence[str], threshold: float | None,
                  path: Path) -> Path:
    """Binary: the positive class with the stored operating point marked; multi-class: one-vs-rest."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    classes = [1] if probs.shape[-1] == 2 else range(probs.shape[-1])
    for c in classes:
        truth, score = (y == c).astype(int), probs[:, c]
        if truth.min() == truth.max():
            continue
        fpr, tpr, _ = roc_curve(truth, score)
        precision, recall, _ = precision_recall_curve(truth, score)
        roc_ax.plot(fpr, tpr, label=f"{class_names[c]} (AUC {auc(fpr, tpr):.3f})")
        pr_ax.plot(recall, precision, label=f"{class_names[c]} (AP {auc(recall, precision):.3f})")
        if threshold is not None:
            pred = score >= threshold
            sens = pred[truth == 1].mean()
            fp_rate = pred[truth == 0].mean()
            roc_ax.scatter([fp_rate], [sens], color="red", zorder=3, label=f"threshold {threshold:.3f}")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC (test split)")
    pr_ax.set(xlabel="recall (sensitivity)", ylabel="precision", title="Precision-recall (test split)")
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def reliability_diagram(y: np.ndarray, before: np.ndarray, after: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Confidence vs accuracy per bin, before and after temperature scaling."""
    from solutions.common.calibration import expected_calibration_error

    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0, 1, bins + 1)
    for label, probs in (("uncalibrated", before), ("temperature-scaled", after)):
        confidence, correct = probs.max(-1), probs.argmax(-1) == y
        which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
        xs = [confidence[which == b].mean() for b in range(bins) if (which == b).any()]
        ys = [correct[which == b].mean() for b in range(bins) if (which == b).any()]
        ax.plot(xs, ys, marker="o", label=f"{label} (ECE {expected_calibration_error(probs, y):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.set(xlabel="confidence", ylabel="accuracy", title="Reliability (test split)", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def gradcam_grid(model, images: np.ndarray, y: np.ndarray, pred: np.ndarray, class_names: Sequence[str],
                 path: Path, per_group: int = 3) -> Path:
    """Grad-CAM overlays for right and wrong answers of each true class (the predicted class's map)."""
    from solutions.common.gradcam import gradcam, overlay

    chosen: list[int] = []
    for c in range(len(class_names)):
        for correct in (True, False):
            idx = np.flatnonzero((y == c) & ((pred == y) == correct))[:per_group]
            chosen.extend(idx.tolist())
    chosen = chosen[:36]
    heat = gradcam(model, images[chosen].astype(np.float32), pred[chosen])
    columns = 6
    rows = int(np.ceil(len(chosen) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i, h in zip(axes.flat, chosen, heat):
        ax.imshow(overlay(images[i], h))
        ok = pred[i] == y[i]
        ax.set_title(f"{class_names[pred[i]][:14]} ({class_names[y[i]][:14]})", fontsize=7,
                     color="black" if ok else "red")
    fig.suptitle("Grad-CAM on test images: predicted (true); wrong in red")
    return save_figure(fig, path)
