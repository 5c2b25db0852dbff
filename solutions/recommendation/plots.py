"""Recommendation plots: recall@K for K up to 50 against the baselines (retrieval), and the error
by true rating (rating task)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.plots import plt, save_figure
from solutions.recommendation.ranking import top_k_items


def recall_curve(path: Path, relevance: np.ndarray, rankers: dict[str, np.ndarray], max_k: int = 50) -> str:
    """Mean recall@K over test users for every ranker's [users, items] scores."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    n_relevant = (relevance == 1).sum(axis=1)
    ks = np.arange(1, max_k + 1)
    for name, scores in rankers.items():
        hits = np.take_along_axis(relevance, top_k_items(scores, relevance, max_k), 1) == 1
        recall = (np.cumsum(hits, axis=1) / n_relevant[:, None]).mean(axis=0)
        ax.plot(ks, recall, label=name, linewidth=1.8 if name == "model" else 1.0)
    ax.axvline(10, color="grey", linestyle=":")
    ax.set_xlabel("K (items recommended)")
    ax.set_ylabel("recall@K (test users' mean)")
    ax.set_title("Held-out items found in the top K, history excluded")
    ax.legend()
    return save_figure(fig, path).name


def rating_errors(path: Path, truth: np.ndarray, predicted: np.ndarray, baseline: np.ndarray) -> str:
    """Predicted ratings by true rating (box plots), and RMSE by true rating vs the bias baseline."""
    levels = np.unique(truth)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.boxplot([predicted[truth == v] for v in levels], positions=np.arange(len(levels)), showfliers=False)
    left.set_xticks(np.arange(len(levels)), [f"{v:g}" for v in levels])
    left.set_xlabel("true rating")
    left.set_ylabel("predicted rating")
    left.set_title("Test predictions by true rating")
    width = 0.4
    for offset, (name, values) in zip((-width / 2, width / 2), (("model", predicted), ("user_item_bias", baseline))):
        rmse = [np.sqrt(np.mean((values[truth == v] - v) ** 2)) for v in levels]
        right.bar(np.arange(len(levels)) + offset, rmse, width, label=name)
    right.set_xticks(np.arange(len(levels)), [f"{v:g}" for v in levels])
    right.set_xlabel("true rating")
    right.set_ylabel("RMSE")
    right.set_title("Error by true rating")
    right.legend()
    return save_figure(fig, path).name
