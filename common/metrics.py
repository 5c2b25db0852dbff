"""Evaluation metrics computed in NumPy, so Keras, SavedModel and TFLite outputs are scored alike."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """accuracy and macro-F1 of the arg-max prediction."""
    from sklearn.metrics import f1_score

    pred = probs.argmax(axis=-1)
    return {
        "accuracy": float(np.mean(pred == y_true)),
        "macro_f1": float(f1_score(y_true, pred, average="macro", labels=np.arange(probs.shape[-1]), zero_division=0)),
    }


def confusion(y_true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, pred), 1)
    return cm


def argmax_agreement(reference: np.ndarray, other: np.ndarray) -> float:
    """Fraction of samples where two models pick the same class."""
    return float(np.mean(reference.argmax(axis=-1) == other.argmax(axis=-1)))


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> dict[str, float]:
    """Always predict the most frequent training class: the floor any model must clear."""
    probs = np.zeros((len(y_test), n_classes), dtype=np.float32)
    probs[:, np.bincount(y_train, minlength=n_classes).argmax()] = 1.0
    return classification_metrics(y_test, probs)
