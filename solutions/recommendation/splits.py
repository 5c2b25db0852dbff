"""Id maps saved with the model, the three splits, rating matrices, side features, bias baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solutions.common.files import write_text_atomic
from solutions.common.errors import UserError
from solutions.recommendation.data import Ratings


def _sorted_ids(values) -> list[str]:
    """Ids in numeric order when they are ASCII digits (MovieLens), else in text order (`str.isdigit`
    also accepts `²`, which `int` refuses)."""
    unique = sorted(set(values))
    if all(v.isascii() and v.isdigit() for v in unique):
        return sorted(unique, key=int)
    return unique


@dataclass
class IdMaps:
    """Data ids (strings) <-> model indices. Every user and item of the data gets an index; those
    without training ratings are cold-start and scored from biases."""

    users: list[str]
    items: list[str]

    def __post_init__(self):
        self._user = {u: i for i, u in enumerate(self.users)}
        self._item = {u: i for i, u in enumerate(self.items)}

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @classmethod
    def fit(cls, ratings: Ratings) -> "IdMaps":
        items = set(ratings.items) | set(ratings.titles)  # the catalogue, rated or not
        return cls(_sorted_ids(ratings.users), _sorted_ids(items))

    def user_index(self, ids: np.ndarray) -> np.ndarray:
        """-1 for an id the model does not know."""
        return np.array([self._user.get(str(u), -1) for u in ids], dtype=np.int64)

    def item_index(self, ids: np.ndarray) -> np.ndarray:
        return np.array([self._item.get(str(i), -1) for i in ids], dtype=np.int64)

    def save(self, directory: Path, ratings: Ratings, popular: list[str]) -> Path:
        path = Path(directory) / "id_maps.json"
        write_text_atomic(path, json.dumps({
            "users": self.users, "items": self.items,
            "titles": {i: ratings.titles[i] for i in self.items if i in ratings.titles},
            "genres": {i: ratings.genres[i] for i in self.items if i in ratings.genres},
            "popular_items": popular,
        }))
        return path

    @classmethod
    def load(cls, directory: Path) -> "IdMaps":
        data = json.loads((Path(directory) / "id_maps.json").read_text())
        return cls(data["users"], data["items"])


def split_ratings(ratings: Ratings, how: str, *, users: np.ndarray, val_fraction: float, test_fraction: float,
                  seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Row indices of train/val/test and a description. Validation (early stopping) always comes
    out of the training part, never the test."""
    if not 0 < val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise UserError(f"--val-split {val_fraction} and --test-split {test_fraction} must be in (0, 1) "
                        "and sum to less than 1")
    rng = np.random.default_rng(seed)
    n = len(ratings)
    if how == "u1":
        if "u1" not in ratings.publisher_splits:
            raise UserError("--split u1 needs movielens-100k's u1.base/u1.test")
        is_test = ratings.publisher_splits["u1"]
        rest, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        rule = f"the publisher's u1.base / u1.test; validation {val_fraction:.0%} of u1.base, seed {seed}"
    elif how == "random":
        order = rng.permutation(n)
        n_test = int(round(test_fraction * n))
        test, rest = np.sort(order[:n_test]), order[n_test:]
        rule = f"random {1 - test_fraction:.0%}/{test_fraction:.0%} of ratings, seed {seed}; validation " \
               f"{val_fraction:.0%} of the training part"
    elif how == "temporal":
        if ratings.timestamps is None:
            raise UserError("--split temporal needs a timestamp column (--timestamp-column)")
        order = np.lexsort((np.arange(n), ratings.timestamps, users))  # by user, then time
        is_test = np.zeros(n, bool)
        starts = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1]])
        ends = np.r_[starts[1:], n]
        for a, b in zip(starts, ends):
            held = int(np.floor(test_fraction * (b - a)))  # a user with few ratings keeps them in training
            is_test[order[b - held:b]] = True
        rest, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        rule = f"temporal: each user's latest {test_fraction:.0%} of ratings are the test; validation " \
               f"{val_fraction:.0%} of the rest, seed {seed}"
    else:
        raise UserError(f"unknown --split {how!r}")
    shuffled = rng.permutation(rest)
    n_val = int(round(val_fraction * len(rest)))
    sizes = {"training": len(rest) - n_val, "validation": n_val, "test": len(test)}
    if min(sizes.values()) < MIN_SPLIT_RATINGS:
        raise UserError(f"too few ratings to train and score a recommender: {n} rating(s) split into "
                        + ", ".join(f"{v} {k}" for k, v in sizes.items())
                        + f"; each part needs at least {MIN_SPLIT_RATINGS}")
    return {"train": np.sort(shuffled[n_val:]), "val": np.sort(shuffled[:n_val]), "test": test}, rule


MIN_SPLIT_RATINGS = 10  # fewer cannot early-stop or score; Keras' predict fails on an empty split


def rating_matrix(split, maps: IdMaps) -> np.ndarray:
    """[items, users] float32 with the split's ratings, 0 where unrated (AutoRec's input)."""
    matrix = np.zeros((maps.n_items, maps.n_users), np.float32)
    matrix[split.x[:, 1], split.x[:, 0]] = split.y
    return matrix


def side_features(ratings: Ratings, maps: IdMaps) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Item genres (multi-hot) and user age group + occupation (one-hot) as constant tables."""
    genres = sorted({g for gs in ratings.genres.values() for g in gs})
    items = None
    if genres:
        items = np.zeros((maps.n_items, len(genres)), np.float32)
        for i, raw in enumerate(maps.items):
            for g in ratings.genres.get(raw, []):
                items[i, genres.index(g)] = 1.0
    users = None
    if ratings.user_features:
        occupations = sorted({f["occupation"] for f in ratings.user_features.values()})
        ages = (18, 25, 35, 45, 50, 56)
        users = np.zeros((maps.n_users, len(ages) + 1 + len(occupations)), np.float32)
        for u, raw in enumerate(maps.users):
            f = ratings.user_features.get(raw)
            if f is None:
                continue
            users[u, int(np.searchsorted(ages, float(f["age"]), side="right"))] = 1.0
            users[u, len(ages) + 1 + occupations.index(f["occupation"])] = 1.0
    return items, users


@dataclass(frozen=True)
class Biases:
    """mu + b_u + b_i: the user + item bias model, callable on [n, 2] (user, item) pairs."""

    mean: float
    user: np.ndarray
    item: np.ndarray

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        return self.mean + self.user[pairs[:, 0]] + self.item[pairs[:, 1]]


def bias_baseline(train, maps: IdMaps, *, reg_item: float = 10.0, reg_user: float = 15.0, rounds: int = 10) -> Biases:
    """mu + b_u + b_i by alternating regularised least squares (Koren 2010; Surprise's BaselineOnly)."""
    users, items, r = train.x[:, 0], train.x[:, 1], train.y.astype(float)
    mu = r.mean()
    bu, bi = np.zeros(maps.n_users), np.zeros(maps.n_items)
    for _ in range(rounds):
        bi = np.bincount(items, r - mu - bu[users], maps.n_items) / (reg_item + np.bincount(items, minlength=maps.n_items))
        bu = np.bincount(users, r - mu - bi[items], maps.n_users) / (reg_user + np.bincount(users, minlength=maps.n_users))
    return Biases(float(mu), bu, bi)
