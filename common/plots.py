"""PNG plots every run can show: training curves, confusion matrix, a grid of labelled images."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from solutions.common.files import write_bytes_atomic

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: Path) -> Path:
    """Every PNG the kit writes: tight layout, 110 dpi, the figure closed (memory)."""
    import io

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())


def training_curves(rows: list[dict], path: Path) -> Path:
    """Loss and every tracked metric, train vs validation, with phase boundaries marked."""
    metrics = [k for k in rows[0] if k not in ("epoch", "phase", "learning_rate") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, name in zip(axes[0], metrics):
        ax.plot(epochs, [r.get(name, np.nan) for r in rows], label="train")
        ax.plot(epochs, [r.get("val_" + name, np.nan) for r in rows], label="validation")
        for i in range(1, len(rows)):
            if rows[i].get("phase") != rows[i - 1].get("phase"):
                ax.axvline(rows[i]["epoch"] - 0.5, color="grey", linestyle=":", label="fine-tuning starts")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    return save_figure(fig, path)


def confusion_matrix_plot(cm: np.ndarray, class_names: Sequence[str], path: Path) -> Path:
    n = len(class_names)
    size = min(2 + 0.5 * n, 16)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=90 if n > 10 else 0)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > threshold else "black", fontsize=8)
    ax.set_title("Confusion matrix (test split)")
    return save_figure(fig, path)


def image_grid(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    class_names: Sequence[str],
    path: Path,
    *,
    title: str = "Test images: predicted (true)",
    columns: int = 6,
) -> Path:
    """Images with their predicted and true labels; wrong predictions in red."""
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t, p in zip(axes.flat, images, true, pred):
        ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=255)
        ax.set_title(f"{class_names[p]} ({class_names[t]})", fontsize=8, color="black" if p == t else "red")
    fig.suptitle(title)
    return save_figure(fig, path)


def cv_folds_plot(cv: dict, metric: str, path: Path) -> Path:
    """The headline metric of every cross-validation fold, with the mean and +/- one std."""
    folds = [r["fold"] for r in cv["per_fold"]]
    values = [r.get(metric, np.nan) for r in cv["per_fold"]]
    mean, std = cv["summary"][metric]["mean"], cv["summary"][metric]["std"]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(folds) + 2), 3.6))
    ax.bar(folds, values, color=["tab:orange" if f == 1 else "tab:blue" for f in folds])
    ax.axhline(mean, color="black", label=f"mean {mean:.4f}")
    ax.axhspan(mean - std, mean + std, color="grey", alpha=0.2, label=f"+/- std {std:.4f}")
    low = min(values) - 2 * max(std, 0.005)
    ax.set_ylim(max(0.0, low), min(1.0, max(values) + 2 * max(std, 0.005)) if max(values) <= 1 else None)
    ax.set_xticks(folds)
    ax.set_xlabel("fold (1 = the exported model)")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{cv['folds']}-fold cross-validation")
    ax.legend(loc="lower right")
    return save_figure(fig, path)
