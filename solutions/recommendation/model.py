"""Rating models over (user index, item index) pairs, and the top-K head that serves them.

- `mf`: biased matrix factorisation, r = offset + b_u + b_i + p_u . q_i (Koren et al. 2009);
- `neural`: user and item embeddings, and optional side features (item genres, user age group and
  occupation held as constant tables inside the model), through an MLP;
- `autorec`: item-based and user-based AutoRec (Sedhain et al. 2015), trained together on the
  rating matrix read from its two sides (`autorec_trainer`). Each decoder is linear, so after
  training each side *is* a factor model (item side: p_u = the decoder's column for user u, q_i =
  item i's code from its training ratings; user side the other way round). `autorec_scorer`
  blends the sides and the user + item bias model into the same `FactorScorer` that `mf` trains
  directly, the sides' factors side by side.

Every model scores pairs `[batch, 2]` int32 -> rating `[batch, 1]`, clipped to the rating scale,
and can score all items for a batch of users (`all_item_scores`), which the top-K head uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import keras
from keras import ops

from solutions.recommendation.indices import lookup, negative_past_end
from solutions.recommendation.retrieval import TwoTower  # registered here too: model.keras of retrieval runs
from solutions.recommendation.two_stage import TwoStage

MODELS = ("autorec", "mf", "neural")


@keras.saving.register_keras_serializable(package="recommendation")
class FactorScorer(keras.layers.Layer):
    """offset + b_u + b_i + p_u . q_i, clipped to [low, high]."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, offset: float = 3.5, low: float = 1.0,
                 high: float = 5.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.offset, self.low, self.high, self.l2 = float(offset), float(low), float(high), float(l2)
        reg = keras.regularizers.L2(l2) if l2 else None
        init = keras.initializers.RandomNormal(stddev=0.05)
        self.user_factors = self.add_weight(shape=(n_users, dim), initializer=init, regularizer=reg, name="user_factors")
        self.item_factors = self.add_weight(shape=(n_items, dim), initializer=init, regularizer=reg, name="item_factors")
        self.user_bias = self.add_weight(shape=(n_users,), initializer="zeros", regularizer=reg, name="user_bias")
        self.item_bias = self.add_weight(shape=(n_items,), initializer="zeros", regularizer=reg, name="item_bias")

    def call(self, pairs):
        users, items = pairs[:, 0], pairs[:, 1]
        dot = ops.sum(lookup(self.user_factors, users) * lookup(self.item_factors, items), axis=-1)
        raw = self.offset + lookup(self.user_bias, users) + lookup(self.item_bias, items) + dot
        return ops.expand_dims(ops.clip(raw, self.low, self.high), -1)

    def pair_scores(self, users, items):
        return self(ops.stack([users, items], axis=1))[:, 0]

    def all_item_scores(self, users):
        """[batch] user indices -> [batch, n_items] clipped scores."""
        u = lookup(self.user_factors, users)
        raw = ops.matmul(u, ops.transpose(self.item_factors)) + ops.expand_dims(lookup(self.user_bias, users), -1)
        return ops.clip(raw + self.item_bias + self.offset, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "n_users": self.n_users, "n_items": self.n_items, "dim": self.dim,
                "offset": self.offset, "low": self.low, "high": self.high, "l2": self.l2}


@keras.saving.register_keras_serializable(package="recommendation")
class NeuralScorer(keras.layers.Layer):
    """Embeddings (+ constant side-feature tables) -> MLP -> rating, clipped to [low, high]."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, hidden: tuple[int, ...] = (64, 32),
                 item_features: np.ndarray | list | None = None, user_features: np.ndarray | list | None = None,
                 offset: float = 3.5, low: float = 1.0, high: float = 5.0, dropout: float = 0.2, l2: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.dim, self.hidden = n_users, n_items, dim, tuple(hidden)
        self.offset, self.low, self.high, self.dropout_rate, self.l2 = float(offset), float(low), float(high), float(dropout), float(l2)
        self.item_table = None if item_features is None else np.asarray(item_features, np.float32)
        self.user_table = None if user_features is None else np.asarray(user_features, np.float32)
        reg = keras.regularizers.L2(l2) if l2 else None
        self.user_embedding = keras.layers.Embedding(n_users, dim, embeddings_regularizer=reg)
        self.item_embedding = keras.layers.Embedding(n_items, dim, embeddings_regularizer=reg)
        self.layers_ = [keras.layers.Dense(h, activation="relu") for h in self.hidden]
        self.drop = keras.layers.Dropout(dropout)
        self.out = keras.layers.Dense(1)

    def build(self, input_shape):
        if self.item_table is not None:
            self.item_side = self.add_weight(shape=self.item_table.shape, initializer="zeros", trainable=False,
                                             name="item_side")
            self.item_side.assign(self.item_table)
        if self.user_table is not None:
            self.user_side = self.add_weight(shape=self.user_table.shape, initializer="zeros", trainable=False,
                                             name="user_side")
            self.user_side.assign(self.user_table)

    def _score(self, users, items, training=None):
        parts = [self.user_embedding(negative_past_end(users, self.n_users)),
                 self.item_embedding(negative_past_end(items, self.n_items))]
        if self.item_table is not None:
            parts.append(lookup(self.item_side, items))
        if self.user_table is not None:
            parts.append(lookup(self.user_side, users))
        x = ops.concatenate(parts, axis=-1)
        for layer in self.layers_:
            x = self.drop(layer(x), training=training)
        return ops.clip(self.out(x)[..., 0] + self.offset, self.low, self.high)

    def call(self, pairs, training=None):
        return ops.expand_dims(self._score(pairs[:, 0], pairs[:, 1], training), -1)

    def pair_scores(self, users, items):
        return self._score(users, items)

    def all_item_scores(self, users):
        batch = ops.shape(users)[0]
        items = ops.tile(ops.expand_dims(ops.arange(self.n_items, dtype="int32"), 0), (batch, 1))
        tiled = ops.tile(ops.expand_dims(users, 1), (1, self.n_items))
        return ops.reshape(self._score(ops.reshape(tiled, (-1,)), ops.reshape(items, (-1,))), (batch, self.n_items))

    def get_config(self):
        return {**super().get_config(), "n_users": self.n_users, "n_items": self.n_items, "dim": self.dim,
                "hidden": list(self.hidden), "offset": self.offset, "low": self.low, "high": self.high,
                "dropout": self.dropout_rate, "l2": self.l2,
                "item_features": None if self.item_table is None else self.item_table.tolist(),
                "user_features": None if self.user_table is None else self.user_table.tolist()}


def pair_model(scorer: keras.layers.Layer, name: str) -> keras.Model:
    pairs = keras.Input((2,), dtype="int32", name="user_item")
    return keras.Model(pairs, scorer(pairs), name=name)


def scorer_of(model: keras.Model) -> keras.layers.Layer:
    """The layer that scores (FactorScorer, NeuralScorer, or the retrieval TwoTower or TwoStage):
    it has `all_item_scores(users)` and `pair_scores(users, items)`."""
    return next(layer for layer in model.layers if isinstance(layer, (FactorScorer, NeuralScorer, TwoTower, TwoStage)))


def autorec_trainer(n_users: int, *, hidden: int = 500, l2: float = 0.06, offset: float = 0.0,
                    n_items: int | None = None) -> keras.Model:
    """Item rating vectors over users (0 = unrated) -> reconstructions [items, users, sides].

    Side 0 is item-based AutoRec (each item's ratings over users). With `n_items`, side 1 is
    user-based AutoRec, trained in the same steps: it reads the same batch transposed (each user's
    ratings over items), so the batch must be the whole catalogue, as full-batch training feeds it.
    The two see the matrix from its two sides and err differently: blended (`autorec_scorer`)
    they beat either (u1, seeds 0/1/2: item side 0.9063/0.9035/0.9060, default run 0.8996/0.8969/0.8997).
    Decoder biases start at `offset` (0 as in the paper: measured on u1, starting at the mean
    rating stops earlier and worse, 0.912 vs 0.906)."""
    reg = keras.regularizers.L2(l2)
    vector = keras.Input((n_users,), name="item_ratings")
    code = keras.layers.Dense(hidden, activation="sigmoid", kernel_regularizer=reg, name="encoder")(vector)
    out = keras.layers.Dense(n_users, kernel_regularizer=reg, bias_initializer=keras.initializers.Constant(offset),
                             name="decoder")(code)
    sides = [out]
    if n_items is not None:
        sides.append(UserAutoRec(n_items, hidden=hidden, l2=l2, offset=offset, name="user_autorec")(vector))
    return keras.Model(vector, StackSides(name="sides")(sides), name="recommendation_autorec_trainer")


@keras.saving.register_keras_serializable(package="recommendation")
class UserAutoRec(keras.layers.Layer):
    """User-based AutoRec over a batch that is the whole [items, users] matrix: transposed in,
    reconstructed, transposed back."""

    def __init__(self, n_items: int, *, hidden: int = 500, l2: float = 0.06, offset: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.hidden, self.l2, self.offset = int(n_items), int(hidden), float(l2), float(offset)
        reg = keras.regularizers.L2(l2)
        self.encoder = keras.layers.Dense(hidden, activation="sigmoid", kernel_regularizer=reg, name="encoder")
        self.decoder = keras.layers.Dense(n_items, kernel_regularizer=reg,
                                          bias_initializer=keras.initializers.Constant(offset), name="decoder")

    def build(self, input_shape):
        self.encoder.build((input_shape[1], self.n_items))
        self.decoder.build((input_shape[1], self.hidden))

    def codes(self, user_vectors):
        """[users, items] ratings -> [users, hidden]."""
        return self.encoder(user_vectors)

    def call(self, item_vectors):
        return ops.transpose(self.decoder(self.codes(ops.transpose(item_vectors))))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n_items": self.n_items, "hidden": self.hidden, "l2": self.l2,
                "offset": self.offset}


@keras.saving.register_keras_serializable(package="recommendation")
class StackSides(keras.layers.Layer):
    """[items, users] reconstructions -> [items, users, sides]."""

    def call(self, sides):
        return ops.stack(sides, axis=-1)

    def compute_output_shape(self, input_shapes):
        return (*input_shapes[0], len(input_shapes))


def _with_sides(y_true, y_pred):
    """(target [items, users, 1], reconstruction [items, users, sides]). Keras squeezes a
    one-side reconstruction to the target's rank before the loss sees it; it is put back."""
    if len(y_pred.shape) == len(y_true.shape):
        y_pred = ops.expand_dims(y_pred, -1)
    return ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1), y_pred


@keras.saving.register_keras_serializable(package="recommendation")
def observed_squared_error(y_true, y_pred):
    """Sum of squared errors over the rated entries (0 = unrated) of each item's vector, summed
    over the AutoRec sides (each side's gradient is its own)."""
    target, y_pred = _with_sides(y_true, y_pred)
    mask = ops.cast(target > 0, y_pred.dtype)
    return ops.sum(mask * ops.square(target - y_pred), axis=(-2, -1))


@keras.saving.register_keras_serializable(package="recommendation")
class MaskedRMSE(keras.metrics.Metric):
    """RMSE over the rated entries (0 = unrated) of the sides' mean reconstruction, accumulated
    over an epoch: what early stopping watches."""

    def __init__(self, name: str = "rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sse = self.add_variable(shape=(), initializer="zeros", name="sse")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        target, y_pred = _with_sides(ops.cast(y_true, "float32"), ops.cast(y_pred, "float32"))
        y_true, y_pred = target[..., 0], ops.mean(y_pred, axis=-1)
        mask = ops.cast(y_true > 0, "float32")
        self.sse.assign(self.sse + ops.sum(mask * ops.square(y_true - y_pred)))
        self.count.assign(self.count + ops.sum(mask))

    def result(self):
        return ops.sqrt(self.sse / ops.maximum(self.count, 1.0))

    def reset_state(self):
        self.sse.assign(0.0)
        self.count.assign(0.0)


def autorec_factors(trainer: keras.Model, item_vectors: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Each side of a trained AutoRec as factors: rating = user . item + user_bias + item_bias.
    Item side: q_i = encoder(item i's training ratings), p_u = decoder column u, b_u = decoder
    bias. User side: p_u = encoder(user u's training ratings), q_i = decoder column i, b_i =
    decoder bias."""
    encoder = keras.Model(trainer.inputs, trainer.get_layer("encoder").output)
    codes = np.asarray(encoder.predict(item_vectors, batch_size=1024, verbose=0))
    kernel, bias = trainer.get_layer("decoder").get_weights()  # [hidden, users], [users]
    n_items, n_users = item_vectors.shape
    sides = [{"users": kernel.T, "items": codes, "user_bias": bias, "item_bias": np.zeros(n_items, np.float32)}]
    if any(layer.name == "user_autorec" for layer in trainer.layers):
        user = trainer.get_layer("user_autorec")
        user_codes = np.asarray(user.codes(item_vectors.T))
        kernel, bias = user.decoder.get_weights()  # [hidden, items], [items]
        sides.append({"users": user_codes, "items": kernel.T, "user_bias": np.zeros(n_users, np.float32),
                      "item_bias": bias})
    return sides


@dataclass(frozen=True)
class Blend:
    """rating = sum_s weight_s * side_s + bias_weight * (mu + b_u + b_i) + intercept, clipped."""

    weights: tuple[float, ...]
    bias_weight: float = 0.0
    intercept: float = 0.0

    def to_json(self) -> dict:
        return {"sides": list(self.weights), "user_item_bias": self.bias_weight, "intercept": self.intercept}


def side_scores(side: dict[str, np.ndarray], pairs: np.ndarray) -> np.ndarray:
    """One AutoRec side's unclipped ratings of [n, 2] (user, item) pairs."""
    users, items = pairs[:, 0], pairs[:, 1]
    return (np.sum(side["users"][users] * side["items"][items], axis=1) + side["user_bias"][users]
            + side["item_bias"][items])


BLEND_SHRINK = 20.0  # validation ratings' worth of belief in the item side alone


def fit_blend(sides: list[np.ndarray], bias: np.ndarray, y: np.ndarray) -> Blend:
    """Least squares of the validation ratings on the sides' and the bias model's predictions,
    shrunk toward the item side alone, each weight and the intercept by as much as
    `BLEND_SHRINK` ratings would weigh (ridge on centred columns), so that a validation split of
    a few ratings cannot swing it: on data where most items have few ratings the bias model
    carries weight, on MovieLens the user side does. The validation split also early-stopped
    the trainer (on the sides' plain mean)."""
    x = np.stack([*sides, bias], axis=1).astype(np.float64)
    y = np.asarray(y, np.float64)
    prior = np.zeros(x.shape[1])
    prior[0] = 1.0
    mean_x, mean_y = x.mean(axis=0), y.mean()
    centred = x - mean_x
    penalty = BLEND_SHRINK * np.diag(np.maximum(centred.var(axis=0), 1e-12))  # a rating adds its variance
    w = prior + np.linalg.solve(centred.T @ centred + penalty, centred.T @ (y - mean_y - centred @ prior))
    # the weights' move is paid for in full; the item side's own mean error is shrunk like a weight
    intercept = mean_x @ (prior - w) + (mean_y - mean_x @ prior) * len(y) / (len(y) + BLEND_SHRINK)
    return Blend(tuple(float(v) for v in w[:len(sides)]), float(w[-1]), float(intercept))


def autorec_scorer(trainer: keras.Model, item_vectors: np.ndarray, *, low: float, high: float,
                   blend: Blend | None = None, biases=None) -> keras.Model:
    """The trained AutoRec as one pair model: its sides and the user + item bias model
    (`biases`, splits.Biases) weighted by `blend` (default: the item side alone) are a single
    factor model, the sides' factors side by side."""
    sides = autorec_factors(trainer, item_vectors)
    blend = blend or Blend((1.0,) + (0.0,) * (len(sides) - 1))
    n_items, n_users = item_vectors.shape
    users = np.concatenate([w * s["users"] for w, s in zip(blend.weights, sides)], axis=1)
    items = np.concatenate([s["items"] for s in sides], axis=1)
    user_bias = sum(w * s["user_bias"] for w, s in zip(blend.weights, sides))
    item_bias = sum(w * s["item_bias"] for w, s in zip(blend.weights, sides))
    offset = blend.intercept
    if biases is not None and blend.bias_weight:
        user_bias = user_bias + blend.bias_weight * biases.user
        item_bias = item_bias + blend.bias_weight * biases.item
        offset += blend.bias_weight * biases.mean
    scorer = FactorScorer(n_users, n_items, users.shape[1], offset=offset, low=low, high=high, name="scorer")
    model = pair_model(scorer, "recommendation_autorec")
    scorer.user_factors.assign(users.astype(np.float32))
    scorer.item_factors.assign(items.astype(np.float32))
    scorer.user_bias.assign(np.asarray(user_bias, np.float32))
    scorer.item_bias.assign(np.asarray(item_bias, np.float32))
    return model


def build_model(kind: str, *, n_users: int, n_items: int, dim: int = 64, offset: float = 3.5, low: float = 1.0,
                high: float = 5.0, l2: float = 1e-4, dropout: float = 0.2, item_features=None, user_features=None,
                hidden: int = 500, user_side: bool = True) -> keras.Model:
    """The model `train` fits: a pair model (mf, neural) or the AutoRec trainer."""
    if kind == "mf":
        return pair_model(FactorScorer(n_users, n_items, dim, offset=offset, low=low, high=high, l2=l2, name="scorer"),
                          "recommendation_mf")
    if kind == "neural":
        return pair_model(NeuralScorer(n_users, n_items, dim, offset=offset, low=low, high=high, l2=l2,
                                       dropout=dropout, item_features=item_features, user_features=user_features,
                                       name="scorer"), "recommendation_neural")
    if kind == "autorec":
        return autorec_trainer(n_users, hidden=hidden, l2=l2, n_items=n_items if user_side else None)
    raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")


def top_k_model(pair: keras.Model, rated: np.ndarray, k: int) -> keras.Model:
    """user index [batch] -> (top-k scores, item indices), the user's history excluded.
    `rated` is a [users, items] 0/1 table kept inside the model as int8."""
    scorer = scorer_of(pair)
    table = TrainingRatings(rated.shape, name="user_history")
    users = keras.Input((), dtype="int32", name="user")
    scores = AllItemScores(scorer, name="all_item_scores")(users)
    masked = scores - 1e4 * table(users)
    values, indices = TopK(k, name="top_k")(masked)
    model = keras.Model(users, [values, indices], name="recommendation_top_k")
    table.table.assign(rated.astype(np.int8))
    return model


class AllItemScores(keras.layers.Layer):
    """The scorer's rating of every item for each user (shares the scorer's weights; export only)."""

    def __init__(self, scorer: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.scorer = scorer

    def call(self, users):
        return self.scorer.all_item_scores(users)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.scorer.n_items)


@keras.saving.register_keras_serializable(package="recommendation")
class TrainingRatings(keras.layers.Layer):
    """1.0 where the user rated the item before the test (training or validation), as a constant
    int8 table."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape_ = tuple(int(s) for s in shape)
        self.table = self.add_weight(shape=self.shape_, dtype="int8", initializer="zeros", trainable=False,
                                     name="table")
        self.built = True  # the table is its only weight, made here

    def call(self, users):
        return ops.cast(lookup(self.table, users), "float32")

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape_)}


@keras.saving.register_keras_serializable(package="recommendation")
class TopK(keras.layers.Layer):
    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = int(k)

    def call(self, scores):
        values, indices = ops.top_k(scores, self.k)
        return values, ops.cast(indices, "int32")

    def get_config(self):
        return {**super().get_config(), "k": self.k}
