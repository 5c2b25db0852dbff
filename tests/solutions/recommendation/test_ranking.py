"""Relevance tables, recall/NDCG@K by hand, history exclusion, top-K agreement with ties."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.recommendation.ranking import (popularity_scores, ranking_scores, relevance_table, same_top_k,
                                              top_k_items)


def test_relevance_marks_held_out_items_and_history_of_test_users_only():
    held_out = np.array([[0, 1], [0, 2], [2, 0]])
    history = np.array([[0, 3], [1, 1], [2, 4]])
    users, table = relevance_table(held_out, history, n_items=5)
    np.testing.assert_array_equal(users, [0, 2])
    np.testing.assert_array_equal(table, [[0, 1, 1, -1, 0], [1, 0, 0, 0, -1]])


def test_recall_and_ndcg_by_hand():
    relevance = np.array([[1, 0, 1, -1, 0, 0]], np.int8)  # items 0 and 2 held out, 3 in history
    scores = np.array([[0.5, 0.9, 0.1, 5.0, 0.2, 0.0]])  # item 3 is best but seen: ranked 1, 0, 4, 2, ...
    result = ranking_scores(relevance, scores, k=2)
    assert result["recall_at_2"] == pytest.approx(0.5)  # item 0 of {0, 2}
    assert result["precision_at_2"] == pytest.approx(0.5)
    ideal = 1 + 1 / np.log2(3)
    assert result["ndcg_at_2"] == pytest.approx((1 / np.log2(3)) / ideal)  # the hit sits at rank 2
    assert result["hit_rate_at_2"] == 1.0
    perfect = ranking_scores(relevance, np.array([[2.0, 0, 1.5, 9, 0, 0]]), k=2)
    assert perfect["recall_at_2"] == 1.0 and perfect["ndcg_at_2"] == pytest.approx(1.0)


def test_top_k_never_returns_history_and_is_ordered():
    rng = np.random.default_rng(0)
    scores = rng.random((20, 50))
    relevance = np.where(rng.random((20, 50)) < 0.3, -1, 0).astype(np.int8)
    top = top_k_items(scores, relevance, 10)
    assert not (np.take_along_axis(relevance, top, 1) == -1).any()
    chosen = np.take_along_axis(scores, top, 1)
    assert (np.diff(chosen, axis=1) <= 0).all()
    allowed = np.where(relevance < 0, -np.inf, scores)
    np.testing.assert_allclose(chosen[:, 0], allowed.max(axis=1))


def test_same_top_k_accepts_ties_and_catches_a_swap():
    reference = np.array([[3.0, 2.0, 1.0, 1.0, 0.0]])
    none = np.zeros_like(reference, np.int8)
    tie = np.array([[3.0, 2.0, 0.9, 1.0, 0.0]])  # picks item 3 instead of 2: tied in the reference
    assert same_top_k(reference, tie, none, k=3).all()
    wrong = np.array([[3.0, 2.0, 0.0, 0.0, 5.0]])  # item 4 enters the top 3
    assert not same_top_k(reference, wrong, none, k=3).any()


def test_popularity_ranks_by_training_count():
    scores = popularity_scores(np.array([2, 2, 2, 0, 1, 1]), n_items=4, n_users=2)
    np.testing.assert_array_equal(top_k_items(scores, np.zeros((2, 4), np.int8), 3), [[2, 1, 0], [2, 1, 0]])
