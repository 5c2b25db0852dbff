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


def test_ease_recommends_what_co_occurs_and_never_an_item_for_itself():
    from solutions.recommendation.ranking import ease_scores, ease_weights, item_gram

    # users 0-5 rated items 0 and 1 together; users 6-9 rated items 2 and 3 together
    pairs = np.array([(u, i) for u in range(6) for i in (0, 1)] + [(u, i) for u in range(6, 10) for i in (2, 3)]
                     + [(0, 0)])  # a repeated rating counts once
    gram = item_gram(pairs, 5)
    np.testing.assert_array_equal(gram, item_gram(pairs[:-1], 5))
    weights = ease_weights(gram, lam=1.0)
    assert np.allclose(np.diag(weights), 0.0)
    assert weights[0, 1] > 0.5 and weights[2, 3] > 0.5 and abs(weights[0, 3]) < 1e-9 and np.allclose(weights[4], 0)
    # a user who knows item 0 only is offered item 1 first; one who knows item 2 gets item 3;
    # one without training ratings gets the most-rated items (popularity), not 5 tied zeros
    scores = ease_scores(np.array([[20, 0], [21, 2], [1, 0], [1, 1]]), np.array([20, 21, 22]), weights)
    assert scores.shape == (3, 5) and scores[0].argmax() == 1 and scores[1].argmax() == 3
    np.testing.assert_array_equal(scores[2], [2, 1, 1, 0, 0])
    # a heavier penalty shrinks the weights toward zero
    assert ease_weights(gram, lam=100.0)[0, 1] < weights[0, 1]


def test_ease_weights_meet_the_closed_form_optimum_on_random_data():
    """(G + lam I)(I - B) is diagonal for EASE's B: each column j is a ridge regression of item j
    on the others. Dividing by the row's diagonal instead of the column's breaks it."""
    from solutions.recommendation.ranking import ease_weights, item_gram

    rng = np.random.default_rng(1)
    pairs = np.unique(np.column_stack([rng.integers(0, 50, 600), rng.integers(0, 30, 600)]), axis=0)
    gram = item_gram(pairs, 30)
    weights = ease_weights(gram, lam=3.0)
    product = (gram + 3.0 * np.eye(30)) @ (np.eye(30) - weights)
    assert np.abs(product - np.diag(np.diag(product))).max() < 1e-9


def test_tuned_ease_picks_lambda_on_validation_and_skips_a_large_catalogue(monkeypatch):
    from solutions.recommendation import ranking

    rng = np.random.default_rng(0)
    pairs = np.unique(np.column_stack([rng.integers(0, 60, 900), rng.integers(0, 40, 900)]), axis=0)
    held, train = pairs[::5], np.delete(pairs, np.s_[::5], axis=0)
    users, table = relevance_table(held, train, 40)
    seen = []
    real = ranking.ease_weights
    monkeypatch.setattr(ranking, "ease_weights", lambda gram, lam: seen.append(lam) or real(gram, lam))
    lam, weights = ranking.tuned_ease(train, 40, users, table, lambdas=(1.0, 10.0, 1e6))
    assert seen == [1.0, 10.0, 1e6] and weights.shape == (40, 40)
    gram = ranking.item_gram(train, 40)

    def recall(value):
        return ranking_scores(table, ranking.ease_scores(train, users, real(gram, value)))["recall_at_10"]

    assert lam == max(seen, key=recall)
    np.testing.assert_allclose(weights, real(gram, lam))
    monkeypatch.setattr(ranking, "EASE_MAX_ITEMS", 39)
    assert ranking.tuned_ease(train, 40, users, table) is None
    assert ranking.tuned_ease(train, 40, users[:0], table[:0]) is None
