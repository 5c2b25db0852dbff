"""The retrieval task's two-tower model, trained with an in-batch softmax.

Each training rating is a positive (user, item) pair; the other items of the batch are the user's
negatives. Popular items are over-represented among those negatives, so the logits are corrected
by the log of each item's sampling probability (logQ, Yi et al. 2019, with keras-rs's
`SamplingProbabilityCorrection`): without it the model ranks below plain popularity on u1
(recall@10 0.06 vs 0.10, README). An item that is the positive of another row of the batch is
not a negative (accidental hits are masked here: keras-rs 0.4.0's `RemoveAccidentalHits` adds
+1e-40 instead of a large negative number, which leaves the logits unchanged).

`TwoTower` is what ships: user index [batch] -> scores of every item [batch, n_items]; the
training wrapper `InBatchLogits` is never exported.
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

from solutions.recommendation.indices import lookup

MASKED = -1e9


@keras.saving.register_keras_serializable(package="recommendation")
class TwoTower(keras.layers.Layer):
    """User and item towers (embedding + optional projected side features), L2-normalised;
    score = cosine / temperature. Called on user indices, it scores the whole catalogue."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, temperature: float = 0.2,
                 item_features: np.ndarray | list | None = None, user_features: np.ndarray | list | None = None,
                 l2: float = 0.0, catalogue: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.temperature, self.l2 = float(temperature), float(l2)
        self.item_table = None if item_features is None else np.asarray(item_features, np.float32)
        self.user_table = None if user_features is None else np.asarray(user_features, np.float32)
        reg = keras.regularizers.L2(l2) if l2 else None
        init = keras.initializers.RandomNormal(stddev=0.05)
        self.user_embedding = self.add_weight(shape=(n_users, dim), initializer=init, regularizer=reg,
                                              name="user_embedding")
        self.item_embedding = self.add_weight(shape=(n_items, dim), initializer=init, regularizer=reg,
                                              name="item_embedding")
        self.item_side, self.item_projection = self._side_weights("item", self.item_table, init)
        self.user_side, self.user_projection = self._side_weights("user", self.user_table, init)
        # The exported tower scores against the catalogue's unit vectors / temperature computed once
        # (`frozen`), not against the item tower rebuilt from constants in every call: see `frozen`.
        self.catalogue = (self.add_weight(shape=(n_items, dim), initializer="zeros", trainable=False,
                                          name="catalogue") if catalogue else None)
        self.built = True  # every weight is made above

    def _side_weights(self, who: str, table: np.ndarray | None, init):
        """A constant side-feature table and its trainable projection into the embedding space."""
        if table is None:
            return None, None
        side = self.add_weight(shape=table.shape, initializer="zeros", trainable=False, name=f"{who}_side")
        side.assign(table)
        projection = self.add_weight(shape=(table.shape[1], self.dim), initializer=init, name=f"{who}_projection")
        return side, projection

    def user_vectors(self, users):
        vectors = lookup(self.user_embedding, users)
        if self.user_side is not None:
            vectors = vectors + ops.matmul(lookup(self.user_side, users), self.user_projection)
        return _normalize(vectors)

    def item_vectors(self, items=None):
        """Unit vectors of `items`, or of the whole catalogue."""
        vectors = self.item_embedding if items is None else lookup(self.item_embedding, items)
        if self.item_side is not None:
            side = self.item_side if items is None else lookup(self.item_side, items)
            vectors = vectors + ops.matmul(side, self.item_projection)
        return _normalize(vectors)

    def call(self, users):
        return self.all_item_scores(users)

    def all_item_scores(self, users):
        """[batch] user indices -> [batch, n_items]."""
        if self.catalogue is not None:
            return ops.matmul(self.user_vectors(users), ops.transpose(self.catalogue))
        return ops.matmul(self.user_vectors(users), ops.transpose(self.item_vectors())) / self.temperature

    def pair_scores(self, users, items):
        """[batch] users, [batch] items -> [batch]."""
        if self.catalogue is not None:
            return ops.sum(self.user_vectors(users) * lookup(self.catalogue, items), axis=-1)
        return ops.sum(self.user_vectors(users) * self.item_vectors(items), axis=-1) / self.temperature

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_items)

    def get_config(self):
        return {**super().get_config(), "n_users": self.n_users, "n_items": self.n_items, "dim": self.dim,
                "temperature": self.temperature, "l2": self.l2, "catalogue": self.catalogue is not None,
                "item_features": None if self.item_table is None else self.item_table.tolist(),
                "user_features": None if self.user_table is None else self.user_table.tolist()}


def _normalize(x):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


class InBatchLogits(keras.layers.Layer):
    """Training only: pairs [batch, 2] -> logits [batch, batch] of every row's user against every
    row's item, corrected by log q(item) and with accidental hits masked. Row i's label is i."""

    def __init__(self, tower: TwoTower, item_probability: np.ndarray | None, **kwargs):
        super().__init__(**kwargs)
        self.tower = tower
        self.correct = item_probability is not None
        if self.correct:
            import keras_rs

            self.correction = keras_rs.layers.SamplingProbabilityCorrection()
            self.item_probability = self.add_weight(shape=(tower.n_items,), initializer="zeros", trainable=False,
                                                    name="item_probability")
            self.item_probability.assign(np.asarray(item_probability, np.float32))

    def call(self, pairs):
        users, items = pairs[:, 0], pairs[:, 1]
        logits = ops.matmul(self.tower.user_vectors(users), ops.transpose(self.tower.item_vectors(items)))
        logits = logits / self.tower.temperature
        if self.correct:
            q = ops.expand_dims(lookup(self.item_probability, items), 0)
            logits = self.correction(logits, ops.broadcast_to(q, ops.shape(logits)))
        same_item = ops.equal(ops.expand_dims(items, 1), ops.expand_dims(items, 0))
        own = ops.cast(ops.eye(ops.shape(items)[0]), "bool")
        return ops.where(ops.logical_and(same_item, ops.logical_not(own)), MASKED, logits)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[0])


def in_batch_softmax_loss(y_true, y_pred):
    """Cross-entropy of each row's own item among the batch's items (`y_true` is unused)."""
    labels = ops.arange(ops.shape(y_pred)[0])
    return keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)


def retrieval_trainer(tower: TwoTower, item_probability: np.ndarray | None) -> keras.Model:
    pairs = keras.Input((2,), dtype="int32", name="user_item")
    logits = InBatchLogits(tower, item_probability, name="in_batch_logits")(pairs)
    return keras.Model(pairs, logits, name="recommendation_retrieval_trainer")


def frozen(tower: TwoTower) -> TwoTower:
    """The trained tower with its catalogue (every item's unit vector / temperature) computed
    once here and held as one constant, as the exported model scores users against it.

    Left in the graph, the item tower is a function of constants only (embeddings, side-feature
    tables and their projection), which the TFLite converter folds at conversion. TensorFlow 2.21
    folds the L2 norm of a product of two constants (the side features' projection) to wrong
    values: with `--side-features` the float32 file scored recall@10 0.05 against Keras' 0.19
    (README, "Reliability"). Folded here, the files hold exactly the matrix Keras uses, and a device does
    not redo the item tower either.
    """
    if tower.catalogue is not None:
        return tower
    twin = TwoTower.from_config({**tower.get_config(), "catalogue": True})
    trained = {weight.path.split("/")[-1]: weight for weight in tower.weights}
    for weight in twin.weights:
        name = weight.path.split("/")[-1]
        if name != "catalogue":
            weight.assign(trained[name])
    twin.catalogue.assign(np.asarray(tower.item_vectors()) / tower.temperature)
    return twin


def serving_model(tower: TwoTower) -> keras.Model:
    """user index [batch] -> scores of every item: what is saved and exported (the tower `frozen`)."""
    users = keras.Input((), dtype="int32", name="user")
    return keras.Model(users, frozen(tower)(users), name="recommendation_two_tower")


def tower_of(model: keras.Model) -> TwoTower:
    for layer in model.layers:
        if isinstance(layer, TwoTower):
            return layer
        if isinstance(layer, InBatchLogits):
            return layer.tower
    raise ValueError(f"{model.name} has no two-tower layer")


def sampling_probability(train_items: np.ndarray, n_items: int) -> np.ndarray:
    """How often each item is a candidate in a batch of training positives: its share of them."""
    counts = np.bincount(train_items, minlength=n_items).astype(np.float64)
    return (counts / counts.sum()).astype(np.float32)
