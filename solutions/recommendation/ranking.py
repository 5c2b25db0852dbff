"""Top-K quality over the whole catalogue: relevance tables, recall/NDCG@K, the popularity,
EASE and random rankers, and the per-epoch validation recall that early stopping watches.

A relevance table is int8 [users, items]: 1 = an item the user rated in the held-out part,
-1 = an item of the user's history (never recommended, not counted), 0 = anything else.
"""

from __future__ import annotations

import numpy as np

import keras

K = 10


def relevance_table(held_out: np.ndarray, history: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(users that have held-out items, their relevance rows) from [n, 2] (user, item) pairs."""
    users = np.unique(held_out[:, 0])
    row = np.full(int(max(users.max(initial=-1), history[:, 0].max(initial=-1))) + 1, -1)
    row[users] = np.arange(len(users))
    table = np.zeros((len(users), n_items), np.int8)
    seen = history[row[history[:, 0]] >= 0]
    table[row[seen[:, 0]], seen[:, 1]] = -1
    table[row[held_out[:, 0]], held_out[:, 1]] = 1
    return users.astype(np.int32), table


def top_k_items(scores: np.ndarray, relevance: np.ndarray, k: int = K) -> np.ndarray:
    """[users, k] item indices of the best scores, history excluded, best first."""
    masked = np.where(relevance < 0, -np.inf, scores.astype(np.float64))
    part = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(masked, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def ranking_scores(relevance: np.ndarray, scores: np.ndarray, k: int = K) -> dict[str, float]:
    """Mean over users of recall@k (hits / held-out items), precision@k, hit rate@k and binary
    NDCG@k (ideal DCG from min(k, held-out items))."""
    top = top_k_items(scores, relevance, k)
    hits = (np.take_along_axis(relevance, top, 1) == 1).astype(np.float64)
    n_relevant = (relevance == 1).sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return {f"recall_at_{k}": float(np.mean(hits.sum(1) / n_relevant)),
            f"ndcg_at_{k}": float(np.mean((hits * discounts).sum(1) / ideal)),
            f"precision_at_{k}": float(np.mean(hits.sum(1) / k)),
            f"hit_rate_at_{k}": float(np.mean(hits.any(1)))}


def popularity_scores(train_items: np.ndarray, n_items: int, n_users: int) -> np.ndarray:
    """Every user gets the items ranked by how many training ratings they have."""
    counts = np.bincount(train_items, minlength=n_items).astype(np.float32)
    return np.broadcast_to(counts, (n_users, n_items))


# EASE solves one items x items system per lambda: at 5,000 items about 1 GB at its peak and
# seconds on 2 cores; a larger catalogue gets no EASE baseline rather than a run that stalls on it.
EASE_MAX_ITEMS = 5_000
EASE_LAMBDAS = (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)


def item_gram(train: np.ndarray, n_items: int) -> np.ndarray:
    """[items, items] co-occurrence counts of the (user, item) pairs, a repeated pair counted once."""
    from scipy import sparse

    history = sparse.csr_matrix((np.ones(len(train)), (train[:, 0], train[:, 1])),
                                shape=(int(train[:, 0].max(initial=-1)) + 1, n_items))
    history.data[:] = 1.0
    return (history.T @ history).toarray()


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """EASE (Steck 2019): the item-item weights B that best rebuild each user's history from the
    user's other items, with an L2 penalty `lam` and a zero diagonal, in closed form:
    B = I - P / diag(P) column by column, P = (G + lam I)^-1."""
    inverse = np.linalg.inv(gram + lam * np.eye(len(gram)))
    inverse /= -np.diag(inverse)  # column j divided by -P_jj
    inverse[np.diag_indices(len(gram))] = 0.0
    return inverse


def ease_scores(train: np.ndarray, users: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[len(users), items] EASE scores: each user's training items times the item-item weights.
    A user without training ratings gets the items' training counts (popularity), not a tie."""
    n_items = weights.shape[0]
    rows = np.full(int(max(users.max(initial=-1), train[:, 0].max(initial=-1))) + 1, -1)
    rows[users] = np.arange(len(users))
    mine = train[rows[train[:, 0]] >= 0]
    history = np.zeros((len(users), n_items), np.float32)
    history[rows[mine[:, 0]], mine[:, 1]] = 1.0
    scores = history @ weights.astype(np.float32)
    cold = ~history.any(axis=1)
    if cold.any():
        scores[cold] = popularity_scores(train[:, 1], n_items, 1)[0]
    return scores


def tuned_ease(train: np.ndarray, n_items: int, val_users: np.ndarray, val_relevance: np.ndarray,
               lambdas: tuple[float, ...] = EASE_LAMBDAS) -> tuple[float, np.ndarray] | None:
    """(lambda, weights) of the EASE whose validation recall@10 is best, or None for a catalogue
    over EASE_MAX_ITEMS items or no validation users."""
    if n_items > EASE_MAX_ITEMS or not len(val_users):
        return None
    gram = item_gram(train, n_items)
    best = None
    for lam in lambdas:
        weights = ease_weights(gram, lam)
        recall = ranking_scores(val_relevance, ease_scores(train, val_users, weights))[f"recall_at_{K}"]
        if best is None or recall > best[0]:
            best = (recall, lam, weights)
    return best[1], best[2]


def random_scores(n_users: int, n_items: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n_users, n_items), dtype=np.float32)


def same_top_k(reference: np.ndarray, other: np.ndarray, relevance: np.ndarray, k: int = K,
               tolerance: float = 1e-5) -> np.ndarray:
    """Per user: does `other`'s top-k hold only items that are in `reference`'s top-k, or that tie
    (within `tolerance`) with its k-th score?"""
    chosen = top_k_items(other, relevance, k)
    kth = np.take_along_axis(reference, top_k_items(reference, relevance, k)[:, -1:], 1)
    return np.all(np.take_along_axis(reference, chosen, 1) >= kth - tolerance, axis=1)


class ValidationRecall(keras.callbacks.Callback):
    """Adds val_recall_at_10 and val_ndcg_at_10 to the epoch logs: the whole catalogue ranked for
    the validation users, training items excluded (what early stopping watches)."""

    def __init__(self, users: np.ndarray, relevance: np.ndarray, score_users):
        super().__init__()
        self.users, self.relevance, self.score_users = users, relevance, score_users

    def on_epoch_end(self, epoch, logs=None):
        scores = np.concatenate([np.asarray(self.score_users(self.model, self.users[i:i + 1024]))
                                 for i in range(0, len(self.users), 1024)])
        for name, value in ranking_scores(self.relevance, scores).items():
            if name.startswith(("recall", "ndcg")) and logs is not None:
                logs[f"val_{name}"] = value
