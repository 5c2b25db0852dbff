"""The two-stage retrieval benchmark: candidates and features from the history alone, finite
features for items and users the history lacks, and a reranker that ranks what it learned."""

from __future__ import annotations

import numpy as np

from benchmarks import retrieval_rerank as rr


def _world(seed: int = 0, n_users: int = 60, n_items: int = 48):
    """Three groups of users, each rating mostly its own third of the catalogue, at its own time;
    the last four items are never rated (a catalogue with unrated items)."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_users) % 3
    pairs = set()
    for u in range(n_users):
        block = np.arange(group[u] * 14, group[u] * 14 + 14)
        for i in rng.choice(block, 8, replace=False):
            pairs.add((u, int(i)))
        pairs.add((u, int(rng.integers(0, 44))))
    pairs = np.array(sorted(pairs))
    values = np.full((n_users, n_items), np.nan, np.float32)
    values[pairs[:, 0], pairs[:, 1]] = rng.integers(1, 6, len(pairs))
    times = np.full((n_users, n_items), np.nan)
    times[pairs[:, 0], pairs[:, 1]] = group[pairs[:, 0]] * 1e7 + rng.random(len(pairs)) * 1e6
    genres = (np.arange(n_items)[:, None] // 16 == np.arange(3)[None, :]).astype(np.float32)
    side = rr.Side(times, values, occupation=group, age=(np.arange(n_users) // 7) % 4, male=(np.arange(n_users) % 2
                   ).astype(np.float32), genres=genres)
    return pairs, side


def test_candidates_leave_out_the_history_and_every_feature_is_finite():
    pairs, side = _world()
    history = pairs[pairs[:, 0] != 5]  # user 5 has no history: cold, as are the never-rated items
    users = np.array([0, 5, 7])
    cand, features = rr.candidate_features(history, users, side, n_candidates=10)
    assert cand.shape == (3, 10) and features.shape == (3, 10, 13)
    assert np.isfinite(features).all()
    seen = {(u, i) for u, i in history}
    assert not any((u, i) in seen for k, u in enumerate(users) for i in cand[k])
    assert len(set(cand[0])) == 10  # no candidate twice
    counts = np.bincount(history[:, 1], minlength=side.values.shape[1])
    assert set(counts[cand[1]]) <= set(np.sort(counts)[-10:])  # the cold user's candidates: the most-rated items
    without_side = rr.Side(None, side.values, None, None, None, side.genres[:, :0])
    assert rr.candidate_features(history, users, without_side, n_candidates=10)[1].shape == (3, 10, 7)


def test_features_read_only_the_history():
    """`Side` holds every rating, the test split's too: changing the ratings and times outside the
    history must leave the candidates and features as they are (no leak from the held-out pairs)."""
    pairs, side = _world()
    history, users = pairs[::2], np.array([0, 3, 9])
    cand, features = rr.candidate_features(history, users, side, n_candidates=10)
    outside = np.ones(side.values.shape, bool)
    outside[history[:, 0], history[:, 1]] = False
    changed = rr.Side(np.where(outside, 9e9, side.times), np.where(outside, -7.0, side.values), side.occupation,
                      side.age, side.male, side.genres)
    cand2, features2 = rr.candidate_features(history, users, changed, n_candidates=10)
    assert (cand == cand2).all() and np.allclose(features, features2)


def test_fold_examples_label_the_held_out_pairs_only():
    pairs, side = _world()
    x, y = rr.fold_examples(pairs, side, seed=0, n_candidates=10)
    assert x.shape[0] == y.shape[0] and np.isfinite(x).all()
    assert 0 < y.sum() <= len(pairs)  # a held-out pair is a positive at most once, in its own fold
    assert 0.05 < y.mean() < 0.95


def test_the_reranker_orders_the_candidates_better_than_chance():
    """Of EASE's 20 candidates, the learnt order puts far more held-out items in the top 10 than
    a random order of the same candidates (what a reranker that learnt nothing would give)."""
    from solutions.recommendation.ranking import ranking_scores, relevance_table

    pairs, side = _world(seed=1)
    rng = np.random.default_rng(1)
    test_mask = rng.random(len(pairs)) < 0.2
    train, test = pairs[~test_mask], pairs[test_mask]
    users, relevance = relevance_table(test, train, side.values.shape[1])
    scores = rr.two_stage_scores(train, train, users, side, seed=0, repeats=1, epochs=10, n_candidates=20)
    top = np.argsort(-scores, 1)[:, :10]
    assert (np.take_along_axis(scores, top, 1) > 900).all()  # the candidates rank above every other item
    cand, _ = rr.candidate_features(train, users, side, n_candidates=20)
    shuffled = scores.copy()
    np.put_along_axis(shuffled, cand, 1e3 + rng.random(cand.shape), 1)
    learnt, chance = (ranking_scores(relevance, s)["recall_at_10"] for s in (scores, shuffled))
    assert learnt > 0.6 and learnt > chance + 0.15, (learnt, chance)
