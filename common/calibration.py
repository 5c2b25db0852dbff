"""Probabilities that mean what they say, and a decision rule fitted on the validation split.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar T fitted by likelihood on
the validation split: the ranking (AUC) is unchanged, the confidence is corrected. The decision
threshold for a binary screen is chosen on the same split, by Youden's J (sensitivity +
specificity - 1), which does not depend on how common the disease is in the split; a threshold
that maximised validation accuracy would be tuned to the validation prevalence instead.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=-1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=-1)) - z[np.arange(len(y)), y]))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def uncalibrated(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Undo a folded temperature: softmax(T * log p) = softmax(logits)."""
    return softmax(temperature * np.log(np.clip(probs, 1e-12, 1.0)))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence over equal-width bins."""
    confidence = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def youden_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The score threshold that maximises sensitivity + specificity - 1."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y, score)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def sensitivity_threshold(y: np.ndarray, score: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity reaches `target` (the fewest false alarms)."""
    positives = np.sort(score[y == 1])
    if len(positives) == 0:
        raise ValueError("no positive cases to set a sensitivity target on")
    # flag at least ceil(target * P) positives: the threshold is that many from the top.
    k = int(np.ceil(target * len(positives)))
    return float(positives[len(positives) - k])


def screening_metrics(y: np.ndarray, probs: np.ndarray, threshold: float | None) -> dict[str, float | None]:
    """AUC, accuracy, sensitivity and specificity at the decision rule (binary: p1 >= threshold;
    multi-class: arg-max, with sensitivity and specificity macro-averaged one-vs-rest)."""
    from sklearn.metrics import roc_auc_score

    n_classes = probs.shape[-1]
    present = np.unique(y)
    if n_classes == 2:
        score = probs[:, 1]
        pred = (score >= threshold).astype(int)
        auc = roc_auc_score(y, score) if len(present) == 2 else float("nan")
    else:
        pred = probs.argmax(-1)
        auc = roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=np.arange(n_classes)) \
            if len(present) == n_classes else float("nan")
    sens, spec = [], []
    for c in (range(1, 2) if n_classes == 2 else range(n_classes)):
        tp = np.sum((pred == c) & (y == c))
        fn = np.sum((pred != c) & (y == c))
        tn = np.sum((pred != c) & (y != c))
        fp = np.sum((pred == c) & (y != c))
        sens.append(tp / max(tp + fn, 1))
        spec.append(tn / max(tn + fp, 1))
    return {
        "auc": float(auc),
        "accuracy": float(np.mean(pred == y)),
        "sensitivity": float(np.mean(sens)),
        "specificity": float(np.mean(spec)),
        "threshold": None if threshold is None else float(threshold),
    }


def decide(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Predicted class under the stored rule."""
    if probs.shape[-1] == 2 and threshold is not None:
        return (probs[:, 1] >= threshold).astype(int)
    return probs.argmax(-1)
