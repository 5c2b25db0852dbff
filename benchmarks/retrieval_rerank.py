"""Retrieval on MovieLens-100K u1 in two stages (issue 18, point 3): research, not the default.

The kit's two-tower default and eight other model families sit at recall@10 0.19-0.196 on u1
(README, Recommendation), short of 2x popularity on every seed. This script measures a ranker in
two stages. Candidates: the top 100 of EASE refitted on the training and validation ratings (the
history the kit's top-K leaves out). Each (user, candidate) pair gets features that no one family
uses together: EASE's and item-kNN's scores, popularity, the user's activity, when the item was
rated against when the user rated, the item's mean rating, the lift of the item in the user's
occupation and age group (most of the gain), and genre overlap. A Keras MLP learns from them which
candidates a user rated: the training ratings are cut into 5 folds and each fold's pairs are
labelled against features computed from the other four (so the MLP learns on candidates as the
test will see them, never on the test split); this is done `--repeats` times with other folds,
and the MLPs' probabilities are averaged. The test split is read only to score.

    python -m benchmarks.retrieval_rerank --seeds 0 1 2 [--repeats 3] [--epochs 8]

Prints one JSON line per seed: recall@10 and NDCG@10 of popularity (training ratings, as the kit's
baseline), of the refitted EASE and of the two stages, and the two stages' ratio to popularity.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np

N_CANDIDATES = 100
EASE_LAMBDA = 300.0  # the refitted EASE's lambda on u1 (chosen on validation, README)
FOLDS = 5
DAY = 86_400.0


@dataclass
class Side:
    """What the features read beside the (user, item) pairs: each rating's time and value
    ([users, items], NaN where the user did not rate the item; None without timestamps), the
    users' occupation, age group and gender (None without demographics), and item genres."""

    times: np.ndarray | None
    values: np.ndarray
    occupation: np.ndarray | None
    age: np.ndarray | None
    male: np.ndarray | None
    genres: np.ndarray  # [items, genres] 0/1, [items, 0] without genres


def side_of(splits) -> Side:
    """The side information of the kit's splits (`RankingSource.load_splits`)."""
    maps, ratings = splits.fitted["maps"], splits.fitted["ratings"]
    users, items = maps.user_index(ratings.users), maps.item_index(ratings.items)
    shape = (maps.n_users, maps.n_items)
    values = np.full(shape, np.nan, np.float32)
    values[users, items] = ratings.ratings
    times = None
    if ratings.timestamps is not None:
        times = np.full(shape, np.nan)
        times[users, items] = ratings.timestamps
    names = sorted({g for gs in ratings.genres.values() for g in gs})
    genres = np.zeros((maps.n_items, len(names)), np.float32)
    for i, item in enumerate(maps.items):
        for g in ratings.genres.get(item, []):
            genres[i, names.index(g)] = 1.0
    occupation = age = male = None
    if ratings.user_features and all(u in ratings.user_features for u in maps.users):
        people = [ratings.user_features[u] for u in maps.users]
        jobs = sorted({p["occupation"] for p in people})
        occupation = np.array([jobs.index(p["occupation"]) for p in people])
        age = np.array([min(int(p["age"]) // 10, 6) for p in people])
        male = np.array([p["gender"] == "M" for p in people], np.float32)
    return Side(times, values, occupation, age, male, genres)


def ease_and_cosine(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EASE's item-item weights and the items' cosine similarity (zero diagonals) of a 0/1
    [users, items] history."""
    from solutions.recommendation.ranking import ease_weights

    gram = history.T.astype(np.float64) @ history
    counts = np.diag(gram).copy()
    cosine = gram / (np.sqrt(np.outer(counts, counts)) + 1e-6)
    np.fill_diagonal(cosine, 0.0)
    return ease_weights(gram, EASE_LAMBDA).astype(np.float32), cosine.astype(np.float32)


def _lift(groups: np.ndarray, items: np.ndarray, n_groups: int, n_items: int) -> np.ndarray:
    """[groups, items] log of each item's share of a group's ratings over its share of all, from
    each history pair's group (the user's) and item."""
    per_group = np.zeros((n_groups, n_items))
    np.add.at(per_group, (groups, items), 1.0)
    share = per_group / np.maximum(per_group.sum(1, keepdims=True), 1.0)
    overall = per_group.sum(0) / max(per_group.sum(), 1.0)
    return np.log(share + 1e-6) - np.log(overall + 1e-6)


def candidate_features(pairs: np.ndarray, users: np.ndarray, side: Side,
                       n_candidates: int = N_CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """([users, C] candidate items, [users, C, features]) from the history `pairs` (user, item)
    alone: the top C of EASE among the items a user has not rated, and their features."""
    n_users, n_items = side.values.shape
    history = np.zeros((n_users, n_items), np.float32)
    history[pairs[:, 0], pairs[:, 1]] = 1.0
    mine = history[users]
    user_count, item_count = history.sum(1), history.sum(0)
    ease_w, cosine = ease_and_cosine(history)
    ease = mine @ ease_w
    ease[mine.sum(1) == 0] = item_count  # a user without history: the most-rated items, as the kit's EASE
    masked = np.where(mine > 0, -np.inf, ease)
    part = np.argpartition(-masked, n_candidates - 1, axis=1)[:, :n_candidates]
    cand = np.take_along_axis(part, np.argsort(-np.take_along_axis(masked, part, 1), 1, kind="stable"), 1)

    def pick(table: np.ndarray) -> np.ndarray:  # [users, items] -> [users, C]
        return np.take_along_axis(table, cand, 1)

    scores = pick(ease)
    columns = [scores, np.broadcast_to(np.arange(n_candidates, dtype=np.float32), scores.shape),
               (scores - scores.mean(1, keepdims=True)) / (scores.std(1, keepdims=True) + 1e-6),
               pick(mine @ cosine), np.log1p(item_count)[cand], np.log1p(user_count[users])[:, None] + 0 * scores]
    rated = history > 0
    values = np.where(rated, side.values, 0.0)
    columns.append((values.sum(0) / np.maximum(item_count, 1.0))[cand])  # the item's mean rating
    if side.times is not None:
        times = np.where(rated, side.times, 0.0)
        overall, latest = times.sum() / max(rated.sum(), 1), np.where(rated, side.times, -np.inf).max(initial=0.0)
        item_mean = np.where(item_count > 0, times.sum(0) / np.maximum(item_count, 1.0), overall)
        user_mean = np.where(user_count > 0, times.sum(1) / np.maximum(user_count, 1.0), overall)
        first = np.where(item_count > 0, np.where(rated, side.times, np.inf).min(0), latest + 365 * DAY)  # not yet out
        last = np.where(user_count > 0, np.where(rated, side.times, -np.inf).max(1), latest)
        columns += [(item_mean[cand] - user_mean[users][:, None]) / DAY,
                    (first[cand] - last[users][:, None]) / DAY]
    if side.occupation is not None:
        occupation, age = side.occupation, side.age
        lifts = [_lift(group[pairs[:, 0]], pairs[:, 1], int(group.max()) + 1, n_items)[group[users][:, None], cand]
                 for group in (occupation, age)]
        columns += [*lifts, side.male[users][:, None] + 0 * scores]
    if side.genres.shape[1]:
        taste = (mine @ side.genres) / np.maximum(mine.sum(1, keepdims=True), 1.0)
        item_genres = side.genres[cand]
        columns.append(np.einsum("ucg,ug->uc", item_genres, taste) / np.maximum(item_genres.sum(-1), 1.0))
    features = np.stack([np.asarray(c, np.float32) for c in columns], -1)
    return cand, features


def fold_examples(train: np.ndarray, side: Side, seed: int,
                  n_candidates: int = N_CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of every fold's candidates: each fold of the training ratings held out
    in turn, its users' candidates and features from the other folds, labelled 1 where held out."""
    fold = np.random.default_rng(seed).integers(0, FOLDS, len(train))
    xs, ys = [], []
    for f in range(FOLDS):
        held = train[fold == f]
        users = np.unique(held[:, 0])
        cand, features = candidate_features(train[fold != f], users, side, n_candidates)
        labels = np.zeros(side.values.shape, bool)
        labels[held[:, 0], held[:, 1]] = True
        xs.append(features.reshape(-1, features.shape[-1]))
        ys.append(labels[users[:, None], cand].reshape(-1))
    return np.concatenate(xs), np.concatenate(ys).astype(np.float32)


def reranker(x: np.ndarray, y: np.ndarray, seed: int, epochs: int):
    """A small MLP over the standardised features: P(the user rated the candidate)."""
    import keras

    keras.utils.set_random_seed(seed)
    norm = keras.layers.Normalization()
    norm.adapt(x)
    model = keras.Sequential([keras.Input((x.shape[1],)), norm, keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    model.fit(x, y, batch_size=1024, epochs=epochs, verbose=0)
    return model


def two_stage_scores(train: np.ndarray, history: np.ndarray, users: np.ndarray, side: Side, *, seed: int,
                     repeats: int, epochs: int, n_candidates: int = N_CANDIDATES) -> np.ndarray:
    """[users, items] scores: the candidates of `history` by the averaged rerankers' probability
    (above every other item), the rest by EASE. The rerankers learn from `train` only."""
    models = [reranker(*fold_examples(train, side, seed * 1000 + r, n_candidates), seed=seed * 1000 + r,
                       epochs=epochs) for r in range(repeats)]
    cand, features = candidate_features(history, users, side, n_candidates)
    flat = features.reshape(-1, features.shape[-1])
    p = np.mean([m.predict(flat, batch_size=4096, verbose=0)[:, 0] for m in models], 0).reshape(cand.shape)
    scores = refitted_ease(history, users, side.values.shape) - 1e6
    np.put_along_axis(scores, cand, 1e3 + p, 1)
    return scores


def refitted_ease(history: np.ndarray, users: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """[users, items] EASE scores (lambda EASE_LAMBDA) fitted on `history`."""
    from solutions.recommendation.ranking import ease_scores

    matrix = np.zeros(shape, np.float32)
    matrix[history[:, 0], history[:, 1]] = 1.0
    return ease_scores(history, users, ease_and_cosine(matrix)[0])


def measure(seed: int, repeats: int, epochs: int, data_dir: str | None = None) -> dict:
    """One seed of the kit's u1 retrieval split: popularity, the refitted EASE and the two stages."""
    from solutions.recommendation.ranking import popularity_scores, ranking_scores
    from solutions.recommendation.source import RankingSource

    started = time.time()
    splits = RankingSource().load_splits({"dataset": "movielens-100k", "data_dir": data_dir, "split": "u1",
                                          "val_split": 0.05, "test_split": 0.2, "seed": seed,
                                          "task": "retrieval", "rating_column": "rating"})
    side = side_of(splits)
    train, history = splits.train.x, np.concatenate([splits.train.x, splits.val.x])
    users, relevance = splits.test.x, splits.test.y
    n_items = splits.fitted["maps"].n_items
    popularity = ranking_scores(relevance, popularity_scores(train[:, 1], n_items, len(users)))
    ease = ranking_scores(relevance, refitted_ease(history, users, side.values.shape))
    staged = ranking_scores(relevance, two_stage_scores(train, history, users, side, seed=seed, repeats=repeats,
                                                        epochs=epochs))
    return {"seed": seed, "popularity": popularity["recall_at_10"], "ease_refit": ease["recall_at_10"],
            "two_stage": staged["recall_at_10"], "two_stage_ndcg": staged["ndcg_at_10"],
            "ratio": staged["recall_at_10"] / popularity["recall_at_10"], "seconds": round(time.time() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval_rerank", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="rerankers averaged, each on other folds")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from solutions.common.runtime import import_tensorflow

    import_tensorflow()  # quietly, before Keras builds the rerankers
    rows = [measure(seed, args.repeats, args.epochs, args.data_dir) for seed in args.seeds]
    for row in rows:
        print(json.dumps(row), flush=True)
    print(json.dumps({"min_ratio": min(r["ratio"] for r in rows),
                      "mean_two_stage": float(np.mean([r["two_stage"] for r in rows]))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
