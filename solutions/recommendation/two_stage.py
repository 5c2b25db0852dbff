"""Retrieval in two stages, the default for catalogues up to TWO_STAGE_MAX_ITEMS items.

Stage one: the top `candidates` (100) items of EASE (Steck 2019) among those the user has not
rated. Stage two: a small MLP reorders them from features that no single model family uses
together: EASE's score, rank and score standardised over the candidates, item-kNN's score,
popularity, the user's activity, the item's mean rating, when the item was rated against when the
user rated (with timestamps), the item's lift in the user's occupation and age group and the
user's gender (with demographics), and the user's genre taste against the item's genres (with
genres). On MovieLens-100K u1 the two-tower model and eight other families sit at recall@10 1.9-2.0x
popularity; this reaches 2x on every seed measured (README, Recommendation).

How it learns without touching validation or test: the training ratings are cut into 5 folds, and
each fold's users get their candidates and features from the other four folds, labelled 1 where
the held-out fold has the pair (`fold_examples`); `repeats` (3) such cuts, each with its own MLP
head, averaged at the end (`Reranker`). Validation ranks the validation users' candidates built
from the training ratings. The exported model (`TwoStage`) holds the training and validation
history, EASE's and the cosine item-item matrices and the per-item / per-user tables as constants,
and computes the same features with the same code (`stage_features`) for every item at once:
candidates score 1 + P(rated), everything else below 0 in EASE's order. Builtin TFLite ops only
(GATHER, FULLY_CONNECTED, TOPK_V2, SELECT_V2, elementwise ops).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

import keras
from keras import ops

from solutions.recommendation.indices import lookup

TWO_STAGE_MAX_ITEMS = 2_500  # two [items, items] float32 matrices ship inside every exported file (50 MB here)
TWO_STAGE_MAX_CELLS = 10_000_000  # users x items: the int8 history in every file, float64 tables while training
SEEN = -1e4  # an item of the user's history, below any EASE score; finite in a float16 file (-1e9 is not)
CANDIDATES = 100
EASE_LAMBDA = 300.0  # chosen on u1's validation split for the history of training + validation (README)
FOLDS = 5
REPEATS = 3
DAY = 86_400.0
_CHUNK = 128  # users whose features are computed at once: [chunk, items, candidates] comparisons


@dataclass
class Side:
    """What the features read beside the (user, item) pairs: each rating's value and time
    ([users, items], NaN where the user did not rate the item; times None without timestamps), the
    users' occupation, age group and gender (None without demographics), item genres ([items, 0]
    without genres). Tables are built from the history's entries only (`stage_tables`)."""

    values: np.ndarray
    times: np.ndarray | None = None
    occupation: np.ndarray | None = None
    age: np.ndarray | None = None
    male: np.ndarray | None = None
    genres: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))


def side_of(ratings, maps) -> Side:
    """The side information of the kit's ratings under its id maps: demographics only where every
    user has an occupation, an age and a gender."""
    users, items = maps.user_index(ratings.users), maps.item_index(ratings.items)
    shape = (maps.n_users, maps.n_items)
    values = np.full(shape, np.nan, np.float32)
    values[users, items] = ratings.ratings
    times = None
    if ratings.timestamps is not None:
        times = np.full(shape, np.nan)
        times[users, items] = np.asarray(ratings.timestamps, np.float64)
    names = sorted({g for gs in ratings.genres.values() for g in gs})
    genres = np.zeros((maps.n_items, len(names)), np.float32)
    for i, item in enumerate(maps.items):
        for g in ratings.genres.get(item, []):
            genres[i, names.index(g)] = 1.0
    side = Side(values, times, genres=genres)
    people = [ratings.user_features.get(u) for u in maps.users] if ratings.user_features else []
    if people and all(p and {"occupation", "age", "gender"} <= set(p) for p in people):
        try:
            age = np.array([min(int(float(p["age"])) // 10, 6) for p in people])
        except ValueError:
            return side
        jobs = sorted({str(p["occupation"]) for p in people})
        side.occupation = np.array([jobs.index(str(p["occupation"])) for p in people])
        side.age = np.clip(age, 0, 6)
        side.male = np.array([str(p["gender"]).upper().startswith("M") for p in people], np.float32)
    return side


@dataclass
class Tables:
    """What `stage_features` reads, from one history: NumPy arrays, or the `TwoStage` layer's
    weights of the same names. Optional groups are None where the data lacks them."""

    history: np.ndarray  # [users, items] 0/1
    ease: np.ndarray  # [items, items]
    cosine: np.ndarray  # [items, items]
    item_count: np.ndarray  # [items] ratings in the history
    item_rating: np.ndarray  # [items] mean rating in the history (0 without)
    user_count: np.ndarray  # [users]
    item_time: np.ndarray | None = None  # [items] mean day rated (days since the earliest rating)
    item_first: np.ndarray | None = None  # [items] first day rated (a year after the last for unrated items)
    user_time: np.ndarray | None = None  # [users] mean day the user rated
    user_last: np.ndarray | None = None  # [users] last day the user rated
    occupation_lift: np.ndarray | None = None  # [occupations, items] log share in the group / share overall
    age_lift: np.ndarray | None = None  # [age groups, items]
    user_occupation: np.ndarray | None = None  # [users] int32
    user_age: np.ndarray | None = None  # [users] int32
    male: np.ndarray | None = None  # [users] 0/1
    genres: np.ndarray | None = None  # [items, genres] 0/1

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def feature_count(times: bool, demographics: bool, genres: bool) -> int:
    return 7 + 2 * times + 3 * demographics + genres


def _lift(groups: np.ndarray, items: np.ndarray, n_groups: int, n_items: int) -> np.ndarray:
    per_group = np.zeros((n_groups, n_items))
    np.add.at(per_group, (groups, items), 1.0)
    share = per_group / np.maximum(per_group.sum(1, keepdims=True), 1.0)
    overall = per_group.sum(0) / max(per_group.sum(), 1.0)
    return (np.log(share + 1e-6) - np.log(overall + 1e-6)).astype(np.float32)


def stage_tables(pairs: np.ndarray, side: Side, lam: float = EASE_LAMBDA) -> Tables:
    """The tables of the history `pairs` [n, 2] (user, item): nothing outside them is read."""
    from solutions.recommendation.ranking import ease_weights

    n_users, n_items = side.values.shape
    history = np.zeros((n_users, n_items), np.float32)
    history[pairs[:, 0], pairs[:, 1]] = 1.0
    rated = history > 0
    gram = history.T.astype(np.float64) @ history
    counts = np.diag(gram).copy()
    cosine = gram / (np.sqrt(np.outer(counts, counts)) + 1e-6)
    np.fill_diagonal(cosine, 0.0)
    item_count, user_count = history.sum(0), history.sum(1)
    values = np.where(rated, np.nan_to_num(side.values), 0.0)
    tables = Tables(history, ease_weights(gram, lam).astype(np.float32), cosine.astype(np.float32), item_count,
                    (values.sum(0) / np.maximum(item_count, 1.0)).astype(np.float32), user_count)
    if side.times is not None:
        known = rated & np.isfinite(side.times)
        origin = np.nanmin(np.where(known, side.times, np.nan)) if known.any() else 0.0
        days = np.where(known, (side.times - origin) / DAY, 0.0)
        n_item, n_user = known.sum(0), known.sum(1)
        overall, latest = days.sum() / max(known.sum(), 1), days.max(initial=0.0)
        tables.item_time = np.where(n_item > 0, days.sum(0) / np.maximum(n_item, 1), overall).astype(np.float32)
        tables.user_time = np.where(n_user > 0, days.sum(1) / np.maximum(n_user, 1), overall).astype(np.float32)
        tables.item_first = np.where(n_item > 0, np.where(known, days, np.inf).min(0), latest + 365.0).astype(np.float32)
        tables.user_last = np.where(n_user > 0, np.where(known, days, -np.inf).max(1), latest).astype(np.float32)
    if side.occupation is not None:
        tables.occupation_lift = _lift(side.occupation[pairs[:, 0]], pairs[:, 1], int(side.occupation.max()) + 1,
                                       n_items)
        tables.age_lift = _lift(side.age[pairs[:, 0]], pairs[:, 1], int(side.age.max()) + 1, n_items)
        tables.user_occupation = side.occupation.astype(np.int32)
        tables.user_age = side.age.astype(np.int32)
        tables.male = side.male.astype(np.float32)
    if side.genres.shape[1]:
        tables.genres = side.genres.astype(np.float32)
    return tables


def stage_features(t, users, n_candidates: int):
    """(EASE scores masked by the history [b, items], the candidates' threshold [b, 1], features
    [b, items, F]) of a batch of user indices. `t` maps `Tables`' names to arrays or weights; the
    same ops run when training features are made and inside the exported model."""
    mine = ops.cast(lookup(t["history"], users), "float32")
    count = ops.sum(mine, axis=1, keepdims=True)
    ease = ops.matmul(mine, t["ease"])
    item_count = ops.expand_dims(ops.cast(t["item_count"], "float32"), 0)
    ease = ops.where(count > 0, ease, item_count + 0.0 * ease)  # a user without history: the most-rated items
    masked = ops.where(mine > 0, SEEN, ease)
    top, _ = ops.top_k(masked, n_candidates)
    kth = top[:, -1:]
    rank = ops.sum(ops.cast(ops.expand_dims(top, 1) > ops.expand_dims(masked, 2), "float32"), axis=-1)
    mean = ops.mean(top, axis=1, keepdims=True)
    std = ops.sqrt(ops.mean(ops.square(top - mean), axis=1, keepdims=True))
    zeros = 0.0 * ease

    def per_user(name):
        return ops.expand_dims(lookup(t[name], users), 1) + zeros

    def per_item(name):
        return ops.expand_dims(t[name], 0) + zeros

    columns = [ease, rank, (ease - mean) / (std + 1e-6), ops.matmul(mine, t["cosine"]), ops.log1p(item_count) + zeros,
               ops.log1p(count) + zeros, per_item("item_rating")]
    if "item_time" in t:
        columns += [per_item("item_time") - per_user("user_time"), per_item("item_first") - per_user("user_last")]
    if "occupation_lift" in t:
        columns += [lookup(t["occupation_lift"], lookup(t["user_occupation"], users)),
                    lookup(t["age_lift"], lookup(t["user_age"], users)), per_user("male")]
    if "genres" in t:
        taste = ops.matmul(mine, t["genres"]) / ops.maximum(count, 1.0)
        per_genre = ops.maximum(ops.sum(t["genres"], axis=1), 1.0)
        columns.append(ops.matmul(taste, ops.transpose(t["genres"])) / ops.expand_dims(per_genre, 0))
    return masked, kth, ops.stack(columns, axis=-1)


def candidate_examples(tables: Tables, users: np.ndarray, n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """([users, C] candidate items best first, [users, C, F] their features), in NumPy."""
    arrays = {name: ops.convert_to_tensor(a) for name, a in tables.arrays().items()}
    items, features = [], []
    for start in range(0, len(users), _CHUNK):
        batch = ops.convert_to_tensor(users[start:start + _CHUNK].astype(np.int32))
        masked, _, x = stage_features(arrays, batch, n_candidates)
        _, top = ops.top_k(masked, n_candidates)
        items.append(np.asarray(top))
        features.append(np.asarray(ops.take_along_axis(x, ops.expand_dims(top, -1), axis=1)))
    n_features = len(features[0][0, 0]) if features else 0
    if not items:
        return np.zeros((0, n_candidates), np.int32), np.zeros((0, n_candidates, n_features), np.float32)
    return np.concatenate(items), np.concatenate(features)


def fold_examples(train: np.ndarray, side: Side, seed: int, n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, F], labels [n]) of one cut of the training ratings into FOLDS: each fold's
    users' candidates from the other folds, labelled 1 where the fold holds the pair."""
    fold = np.random.default_rng(seed).integers(0, FOLDS, len(train))
    xs, ys = [], []
    for f in range(FOLDS):
        held = train[fold == f]
        users = np.unique(held[:, 0]).astype(np.int32)
        if not len(users):
            continue
        cand, features = candidate_examples(stage_tables(train[fold != f], side), users, n_candidates)
        labels = np.zeros(side.values.shape, bool)
        labels[held[:, 0], held[:, 1]] = True
        xs.append(features.reshape(-1, features.shape[-1]))
        ys.append(labels[users[:, None], cand].reshape(-1))
    return np.concatenate(xs), np.concatenate(ys).astype(np.float32)


def training_examples(train: np.ndarray, side: Side, seed: int, repeats: int,
                      n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """(x [n, repeats, F], y [n, repeats]): `repeats` cuts' examples side by side, each shuffled
    with its own seed and cut to the shortest, so that head r learns from cut r only."""
    cuts = [fold_examples(train, side, seed * 1000 + r, n_candidates) for r in range(repeats)]
    n = min(len(y) for _, y in cuts)
    xs, ys = [], []
    for r, (x, y) in enumerate(cuts):
        order = np.random.default_rng(seed * 1000 + r).permutation(len(y))[:n]
        xs.append(x[order])
        ys.append(y[order])
    return np.stack(xs, axis=1), np.stack(ys, axis=1)


@keras.saving.register_keras_serializable(package="recommendation")
class Reranker(keras.layers.Layer):
    """`repeats` MLP heads (units-units-1) over standardised features. Training: [b, repeats, F]
    -> [b, repeats] probabilities, head r on column r. `probability(x [..., F])`: the heads' mean."""

    def __init__(self, n_features: int, *, repeats: int = REPEATS, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.n_features, self.repeats, self.units = int(n_features), int(repeats), int(units)
        self.mean = self.add_weight(shape=(self.n_features,), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(self.n_features,), initializer="ones", trainable=False, name="variance")
        self.dense = []
        for r in range(self.repeats):
            for j, (width, activation) in enumerate(((self.units, "relu"), (self.units, "relu"), (1, None))):
                layer = keras.layers.Dense(width, activation=activation, name=f"head{r}_dense{j}")
                layer.build((None, self.n_features if j == 0 else self.units))
                self.dense.append(layer)
        self.built = True

    def adapt(self, x: np.ndarray) -> None:
        flat = x.reshape(-1, self.n_features).astype(np.float64)
        self.mean.assign(flat.mean(0).astype(np.float32))
        self.variance.assign(np.maximum(flat.var(0), 1e-6).astype(np.float32))

    def head(self, x, r: int):
        x = (x - self.mean) / ops.sqrt(self.variance)
        for layer in self.dense[3 * r:3 * r + 3]:
            x = layer(x)
        return ops.sigmoid(x[..., 0])

    def call(self, x):
        return ops.stack([self.head(x[:, r, :], r) for r in range(self.repeats)], axis=1)

    def probability(self, x):
        return sum(self.head(x, r) for r in range(self.repeats)) / float(self.repeats)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.repeats)

    def get_config(self):
        return {**super().get_config(), "n_features": self.n_features, "repeats": self.repeats, "units": self.units}


def reranker_trainer(n_features: int, *, repeats: int = REPEATS, units: int = 64) -> keras.Model:
    x = keras.Input((repeats, n_features), name="candidate_features")
    return keras.Model(x, Reranker(n_features, repeats=repeats, units=units, name="reranker")(x),
                       name="recommendation_two_stage_trainer")


_INT_TABLES = ("user_occupation", "user_age")


@keras.saving.register_keras_serializable(package="recommendation")
class TwoStage(keras.layers.Layer):
    """user index [batch] -> a score of every item: the candidates 1 + P(rated) (in (1, 2)), the
    rest sigmoid(EASE standardised) - 1 (in (-1, 0)). The tables are weights set by `set_tables`."""

    def __init__(self, n_users: int, n_items: int, *, n_genres: int = 0, n_occupations: int = 0, n_ages: int = 0,
                 times: bool = False, candidates: int = CANDIDATES, repeats: int = REPEATS, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.n_genres = int(n_users), int(n_items), int(n_genres)
        self.n_occupations, self.n_ages, self.times = int(n_occupations), int(n_ages), bool(times)
        self.candidates, self.repeats, self.units = min(int(candidates), self.n_items), int(repeats), int(units)
        shapes = {"history": (n_users, n_items), "ease": (n_items, n_items), "cosine": (n_items, n_items),
                  "item_count": (n_items,), "item_rating": (n_items,), "user_count": (n_users,)}
        if self.times:
            shapes.update(item_time=(n_items,), item_first=(n_items,), user_time=(n_users,), user_last=(n_users,))
        if self.n_occupations:
            shapes.update(occupation_lift=(self.n_occupations, n_items), age_lift=(self.n_ages, n_items),
                          user_occupation=(n_users,), user_age=(n_users,), male=(n_users,))
        if self.n_genres:
            shapes["genres"] = (n_items, self.n_genres)
        dtypes = {"history": "int8", **{name: "int32" for name in _INT_TABLES}}
        self.tables = {name: self.add_weight(shape=shape, initializer="zeros", trainable=False, name=name,
                                             dtype=dtypes.get(name, "float32")) for name, shape in shapes.items()}
        n_features = feature_count(self.times, bool(self.n_occupations), bool(self.n_genres))
        self.reranker = Reranker(n_features, repeats=repeats, units=units, name="reranker")
        self.built = True

    @classmethod
    def for_tables(cls, tables: Tables, *, candidates: int = CANDIDATES, repeats: int = REPEATS, units: int = 64,
                   **kwargs) -> "TwoStage":
        n_users, n_items = tables.history.shape
        layer = cls(n_users, n_items, n_genres=0 if tables.genres is None else tables.genres.shape[1],
                    n_occupations=0 if tables.occupation_lift is None else len(tables.occupation_lift),
                    n_ages=0 if tables.age_lift is None else len(tables.age_lift), times=tables.item_time is not None,
                    candidates=candidates, repeats=repeats, units=units, **kwargs)
        layer.set_tables(tables)
        return layer

    def set_tables(self, tables: Tables) -> None:
        arrays = tables.arrays()
        if set(arrays) != set(self.tables):
            raise ValueError(f"tables {sorted(arrays)} do not fit the layer's {sorted(self.tables)}")
        for name, weight in self.tables.items():
            weight.assign(np.asarray(arrays[name]).astype(weight.dtype))

    def all_item_scores(self, users):
        masked, kth, features = stage_features(self.tables, users, self.candidates)
        p = self.reranker.probability(features)
        z = features[..., 2]
        return ops.where(masked >= kth, 1.0 + p, ops.sigmoid(z) - 1.0)

    def pair_scores(self, users, items):
        return ops.take_along_axis(self.all_item_scores(users), ops.expand_dims(items, 1), axis=1)[:, 0]

    def call(self, users):
        return self.all_item_scores(users)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_items)

    def get_config(self):
        return {**super().get_config(), "n_users": self.n_users, "n_items": self.n_items, "n_genres": self.n_genres,
                "n_occupations": self.n_occupations, "n_ages": self.n_ages, "times": self.times,
                "candidates": self.candidates, "repeats": self.repeats, "units": self.units}


def serving_model(layer: TwoStage) -> keras.Model:
    users = keras.Input((), dtype="int32", name="user")
    return keras.Model(users, layer(users), name="recommendation_two_stage")


def candidate_scores(reranker: Reranker, items: np.ndarray, features: np.ndarray, n_items: int) -> np.ndarray:
    """[users, items] scores of precomputed candidates (validation): 1 + P(rated), others -1."""
    p = np.asarray(reranker.probability(ops.convert_to_tensor(features)))
    scores = np.full((len(items), n_items), -1.0, np.float32)
    np.put_along_axis(scores, items, 1.0 + p, 1)
    return scores
