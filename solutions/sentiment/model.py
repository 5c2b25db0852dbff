"""Sentiment models: plain Keras over int32 token ids [batch, sequence_length] (0 = padding).

`build_model(name, ...)` is the one builder behind `--model`:
- `bow`: bag of the unigrams and bigrams of the vocabulary (the tokenizer emits both), each
  counted once per text (binarised, as NBSVM found best for short texts): naive-Bayes
  log-probabilities fitted on the training split, mixed with a discriminative part (a per-n-gram
  correction in naive-Bayes units and a fastText-like mean embedding), see `fit_mixing`. With
  character n-grams (a second segment of the ids) it has two views, words and 2-5 characters,
  each its own naive Bayes + correction, trained side by side as two models (each on its own
  loss: an ensemble, not one model over both bags) and summed with mixing weights fitted on
  the validation split; on rt-polarity that is about one point over either view alone;
- `cnn`: parallel convolutions of several widths with max-over-time pooling (Kim, 2014);
- `bilstm`: a bidirectional LSTM over the masked sequence;
- `transformer`: a small encoder (token + position embedding, self-attention, masked mean).

Every model ends in logits -> softmax "probabilities", so the shared classification metrics,
export and TFLite checks apply unchanged. All of them convert to TFLite builtin ops; the recurrent
one only with a fixed batch dimension (see `solutions.common.export.tflite_batch`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

MODELS = ("bow", "cnn", "bilstm", "transformer")


# Per-model defaults: bow needs bigrams in its vocabulary (so a larger one); sequences are in words.
MODEL_DEFAULTS = {
    "bow": {"ngrams": 2, "max_tokens": 300_000, "embedding_dim": 32, "char_ngrams": [2, 5]},
    "cnn": {"ngrams": 1, "max_tokens": 20_000, "embedding_dim": 64},
    "bilstm": {"ngrams": 1, "max_tokens": 20_000, "embedding_dim": 64},
    "transformer": {"ngrams": 1, "max_tokens": 20_000, "embedding_dim": 64},
}


@keras.saving.register_keras_serializable(package="sentiment")
class FirstOccurrence(keras.layers.Layer):
    """1.0 where an id is not padding and has not appeared earlier in the same text, else 0.0."""

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        length = ids.shape[1]
        same = ops.equal(ids[:, :, None], ids[:, None, :])  # [b, t, t]
        earlier = ops.convert_to_tensor(np.tril(np.ones((length, length), bool), k=-1))
        repeated = ops.any(ops.logical_and(same, earlier), axis=-1)
        return ops.cast(ops.logical_and(ids > 0, ops.logical_not(repeated)), "float32")


@keras.saving.register_keras_serializable(package="sentiment")
class WeightedSum(keras.layers.Layer):
    """sum_t weights[b, t] * values[b, t, :] (a bag), optionally divided by sum_t weights (a mean)."""

    def __init__(self, mean: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mean = mean

    def call(self, values, weights):
        total = ops.sum(values * weights[:, :, None], axis=1)
        if self.mean:
            total = total / ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
        return total

    def get_config(self):
        return {**super().get_config(), "mean": self.mean}


def naive_bayes_log_probs(ids: np.ndarray, y: np.ndarray, size: int, num_classes: int, alpha: float = 1.0) -> np.ndarray:
    """Multinomial NB log p(feature | class) from binarised features [n, t] (0 = none), centred per
    feature across classes (softmax ignores a shared offset). Fitted on the training split only."""
    counts = np.zeros((size, num_classes))
    for c in range(num_classes):
        rows = ids[y == c]
        for row in rows:
            present = np.unique(row[row > 0])
            counts[present, c] += 1
    counts[0] = 0
    log_probs = np.log(counts + alpha) - np.log((counts + alpha).sum(axis=0, keepdims=True))
    log_probs -= log_probs.mean(axis=1, keepdims=True)
    log_probs[0] = 0
    return log_probs.astype(np.float32)


def build_model(
    name: str,
    *,
    vocab_size: int,
    sequence_length: int,
    num_classes: int,
    embedding_dim: int = 64,
    width: int = 100,
    depth: int = 1,
    dropout: float = 0.5,
    train_ids: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    class_prior: np.ndarray | None = None,
    char_vocab_size: int = 0,
    char_length: int = 0,
) -> keras.Model:
    """One builder for every `--model`: token ids in, class probabilities out (with character
    n-grams, the bow model's trainer: see `two_view_bow`)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if name == "bow" and char_vocab_size:
        return two_view_bow(vocab_size, sequence_length, char_vocab_size, char_length, num_classes, embedding_dim,
                            dropout, train_ids, train_labels, class_prior)
    ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
    if name == "bow":
        logits = _bow(ids, vocab_size, num_classes, embedding_dim, dropout, train_ids, train_labels)
    elif name == "cnn":
        logits = _cnn(ids, vocab_size, num_classes, embedding_dim, width, dropout)
    elif name == "bilstm":
        logits = _bilstm(ids, vocab_size, num_classes, embedding_dim, width, depth, dropout)
    else:
        logits = _transformer(ids, vocab_size, sequence_length, num_classes, embedding_dim, depth, dropout)
    if class_prior is not None:  # start from the class prior, as the medical head does
        logits = keras.layers.Add(name="prior")([logits, _constant_bias(np.log(np.maximum(class_prior, 1e-6)))(logits)])
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(ids, probabilities, name=f"sentiment_{name}")


def _constant_bias(values: np.ndarray, name: str = "class_bias") -> keras.layers.Layer:
    """A trainable per-class bias that starts at `values` (broadcast over the batch)."""
    centred = (values - values.mean()).astype(np.float32)
    return Bias(centred, name=name)


@keras.saving.register_keras_serializable(package="sentiment")
class Scale(keras.layers.Layer):
    """x * s with one scalar weight s: how much one part of a mixture counts."""

    def __init__(self, initial: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = float(initial)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial), name="scale")

    def call(self, x):
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


@keras.saving.register_keras_serializable(package="sentiment")
class Bias(keras.layers.Layer):
    def __init__(self, initial=None, **kwargs):
        super().__init__(**kwargs)
        self.initial = None if initial is None else [float(v) for v in np.ravel(initial)]

    def build(self, input_shape):
        init = keras.initializers.Constant(self.initial) if self.initial else "zeros"
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer=init, name="bias")

    def call(self, x):
        return ops.zeros_like(x) + self.bias

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


def _bow(ids, vocab_size, num_classes, dim, dropout, train_ids, train_labels):
    """NBSVM-like: naive-Bayes log-probabilities (frozen) mixed with a discriminative part (a
    learned correction of each n-gram's weight in naive-Bayes units, plus a fastText-like mean
    embedding). The NB part is fitted on the training texts and so is overconfident on them: the
    discriminative part trains alone (NB weight 0) and `fit_mixing` sets the two weights on the
    validation split afterwards, as NBSVM interpolates its two models."""
    keep = FirstOccurrence(name="once")(ids)
    naive_bayes, corrected = _naive_bayes_parts(ids, keep, vocab_size, num_classes, train_ids, train_labels, "")
    discriminative = keras.layers.Add(name="discriminative")(
        [corrected, _mean_embedding_logits(ids, keep, vocab_size, dim, dropout, num_classes)])
    return _mixed(naive_bayes, discriminative, "")


def _mean_embedding_logits(ids, keep, size, dim, dropout, num_classes):
    """fastText-like: the mean of the kept n-grams' embeddings, dropout, a dense layer."""
    vectors = keras.layers.Embedding(size, dim, name="gram_embedding")(ids)
    deep = WeightedSum(mean=True, name="mean_embedding")(vectors, keep)
    deep = keras.layers.Dropout(dropout, name="dropout")(deep)
    return keras.layers.Dense(num_classes, name="deep_logits")(deep)


def _mixed(naive_bayes, discriminative, suffix: str):
    """NB at weight 0 (the discriminative part trains alone) plus the discriminative part at 1;
    `fit_mixing` sets both on the validation split after training."""
    return keras.layers.Add(name=f"logits{suffix}")([
        Scale(0.0, trainable=False, name=f"naive_bayes_mix{suffix}")(naive_bayes),
        Scale(1.0, trainable=False, name=f"discriminative_mix{suffix}")(discriminative),
    ])


def fit_mixing(model: keras.Model, val_ids: np.ndarray, val_labels: np.ndarray) -> dict[str, float]:
    """Set the bow model's mixing weights (naive Bayes and discriminative, per view) to minimise
    the validation log-loss; return them by part ("naive_bayes", "discriminative_chars", ...)."""
    from scipy.optimize import minimize

    mixes = [layer for layer in model.layers if isinstance(layer, Scale) and "_mix" in layer.name]
    parts = keras.Model(model.inputs, [layer.input for layer in mixes])
    values = [np.asarray(p, dtype=np.float64) for p in parts.predict(val_ids, batch_size=512, verbose=0)]
    bias = np.asarray(model.get_layer("class_bias").bias, dtype=np.float64) if _has(model, "class_bias") else 0.0

    def log_loss(w):
        logits = sum(weight * value for weight, value in zip(w, values)) + bias
        logits -= logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(val_labels)), val_labels]))

    start = [0.0 if layer.name.startswith("naive_bayes") else 1.0 for layer in mixes]
    before = log_loss(start)
    best = minimize(log_loss, x0=start, method="L-BFGS-B", bounds=[(0.0, 20.0)] * len(mixes))
    for layer, weight in zip(mixes, best.x):
        layer.scale.assign(float(weight))
    return {**{layer.name.replace("_mix", ""): float(w) for layer, w in zip(mixes, best.x)},
            "val_log_loss_discriminative_only": before, "val_log_loss_mixed": float(best.fun)}


def two_view_bow(vocab_size, word_length, char_vocab_size, char_length, num_classes, dim, dropout,
                 train_ids, train_labels, class_prior) -> keras.Model:
    """The bow trainer over words and characters: ids [batch, words + chars] -> each view's own
    probabilities [batch, 2, classes], one loss per view (`per_view_crossentropy`), so the two
    train as two separate models. `exported_bow` sums their logits into the model that ships.

    A view's logits are naive Bayes (weight 0 while training) plus its discriminative part and
    class prior (weight 1), as the one-view model; the character view is NB + correction only, as
    in the NBSVM prototype that measured the gain (README), and keeps the file small."""
    ids = keras.Input(shape=(word_length + char_length,), dtype="int32", name="token_ids")
    word_ids = Segment(0, word_length, name="word_ids")(ids)
    char_ids = Segment(word_length, word_length + char_length, name="char_ids")(ids)
    prior = np.log(np.maximum(class_prior, 1e-6)) if class_prior is not None else np.zeros(num_classes)
    split = {"words": (None, None), "chars": (None, None)}
    if train_ids is not None:
        split = {"words": (train_ids[:, :word_length], train_labels), "chars": (train_ids[:, word_length:], train_labels)}
    views = []
    for view, view_ids, size in (("words", word_ids, vocab_size), ("chars", char_ids, char_vocab_size)):
        if view == "words":
            keep = FirstOccurrence(name="once_words")(view_ids)
        else:  # a few hundred ids: sorted, each kept where it differs from its neighbour (O(t log t), not t^2)
            view_ids, keep = SortedFirstOccurrence(name="once_chars")(view_ids)
        naive_bayes, corrected = _naive_bayes_parts(view_ids, keep, size, num_classes, *split[view], f"_{view}")
        discriminative = corrected
        if view == "words":
            deep = _mean_embedding_logits(view_ids, keep, size, dim, dropout, num_classes)
            discriminative = keras.layers.Add(name="discriminative_words")([corrected, deep])
        bias = _constant_bias(prior, f"class_bias_{view}")(discriminative)
        discriminative = keras.layers.Add(name=f"discriminative_and_prior_{view}")([discriminative, bias])
        views.append(_mixed(naive_bayes, discriminative, f"_{view}"))
    probabilities = [keras.layers.Softmax(name=f"probabilities_{view}")(logits) for view, logits in zip(split, views)]
    return keras.Model(ids, Stack(name="views")(probabilities), name=TWO_VIEW_TRAINER)


TWO_VIEW_TRAINER = "sentiment_bow_trainer"


def exported_bow(trainer: keras.Model) -> keras.Model:
    """The shipped two-view model: token ids -> softmax(words' logits + characters' logits), the
    trainer's own layers and weights."""
    logits = keras.layers.Add(name="logits")([trainer.get_layer("logits_words").output,
                                              trainer.get_layer("logits_chars").output])
    return keras.Model(trainer.inputs, keras.layers.Softmax(name="probabilities")(logits), name="sentiment_bow")


def per_view_crossentropy(y_true, y_pred):
    """Mean over views of each view's cross-entropy: [batch] labels, [batch, views, classes]."""
    labels = ops.reshape(ops.cast(y_true, "int32"), (-1, 1))
    labels = ops.broadcast_to(labels, ops.shape(y_pred)[:2])
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, y_pred), axis=-1)


def mean_view_accuracy(y_true, y_pred):
    """Accuracy of the views' averaged probabilities (what the trainer reports as `accuracy`)."""
    return keras.metrics.sparse_categorical_accuracy(y_true, ops.mean(y_pred, axis=1))


def _naive_bayes_parts(ids, keep, size, num_classes, train_ids, train_labels, suffix: str):
    """The frozen naive-Bayes sum of the kept n-grams and their per-n-gram correction in
    naive-Bayes units (layer names end in `suffix`: "" for the one-view model, "_words"...)."""
    nb = "zeros"
    if train_ids is not None:
        nb = keras.initializers.Constant(naive_bayes_log_probs(train_ids, train_labels, size, num_classes))
    nb_weights = keras.layers.Embedding(size, num_classes, embeddings_initializer=nb, trainable=False,
                                        name=f"naive_bayes_weights{suffix}")(ids)
    naive_bayes = WeightedSum(name=f"naive_bayes{suffix}")(nb_weights, keep)
    correction = keras.layers.Embedding(size, num_classes, embeddings_initializer="zeros",
                                        name=f"correction_weights{suffix}")(ids)
    units = keras.layers.Multiply(name=f"nb_units{suffix}")([nb_weights, correction])
    return naive_bayes, WeightedSum(name=f"correction{suffix}")(units, keep)


@keras.saving.register_keras_serializable(package="sentiment")
class Segment(keras.layers.Layer):
    """ids[:, start:stop]: one segment of the token ids (words, or character n-grams)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, ids):
        return ops.cast(ids, "int32")[:, self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="sentiment")
class SortedFirstOccurrence(keras.layers.Layer):
    """ids -> (the ids sorted, 1.0 where a sorted id is not padding and differs from the one
    before it): each distinct id once, a bag that does not need its order. TOPK_V2 in TFLite."""

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        ordered, _ = ops.top_k(ids, k=ids.shape[1], sorted=True)
        before = ops.concatenate([ops.full_like(ordered[:, :1], -1), ordered[:, :-1]], axis=1)
        keep = ops.logical_and(ordered > 0, ops.not_equal(ordered, before))
        return ordered, ops.cast(keep, "float32")


@keras.saving.register_keras_serializable(package="sentiment")
class Stack(keras.layers.Layer):
    """[batch, classes] per view -> [batch, views, classes]."""

    def call(self, parts):
        return ops.stack(parts, axis=1)


def _has(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _cnn(ids, vocab_size, num_classes, dim, width, dropout):
    x = keras.layers.Embedding(vocab_size, dim, name="embedding")(ids)
    pooled = []
    for k in (3, 4, 5):
        conv = keras.layers.Conv1D(width, k, padding="same", activation="relu", name=f"conv{k}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"max_over_time{k}")(conv))
    x = keras.layers.Concatenate(name="features")(pooled)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


def _bilstm(ids, vocab_size, num_classes, dim, width, depth, dropout):
    x = keras.layers.Embedding(vocab_size, dim, mask_zero=True, name="embedding")(ids)
    for i in range(depth):
        last = i == depth - 1
        x = keras.layers.Bidirectional(keras.layers.LSTM(width // 2, return_sequences=not last), name=f"bilstm{i + 1}")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


def _transformer(ids, vocab_size, length, num_classes, dim, depth, dropout, heads: int = 4):
    keep = NotPadding(name="not_padding")(ids)
    tokens = keras.layers.Embedding(vocab_size, dim, name="token_embedding")(ids)
    x = PositionEmbedding(length, dim, name="position_embedding")(tokens)
    mask = AttentionMask(name="attention_mask")(keep)
    for i in range(depth):
        attended = keras.layers.MultiHeadAttention(heads, dim // heads, dropout=0.1, name=f"attention{i + 1}")(x, x, attention_mask=mask)
        x = keras.layers.LayerNormalization(name=f"norm{i + 1}a")(x + keras.layers.Dropout(dropout, name=f"drop{i + 1}a")(attended))
        ff = keras.layers.Dense(dim * 2, activation="gelu", name=f"ff{i + 1}a")(x)
        ff = keras.layers.Dense(dim, name=f"ff{i + 1}b")(ff)
        x = keras.layers.LayerNormalization(name=f"norm{i + 1}b")(x + keras.layers.Dropout(dropout, name=f"drop{i + 1}b")(ff))
    x = WeightedSum(mean=True, name="mean_over_tokens")(x, keep)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


@keras.saving.register_keras_serializable(package="sentiment")
class NotPadding(keras.layers.Layer):
    def call(self, ids):
        return ops.cast(ops.cast(ids, "int32") > 0, "float32")


@keras.saving.register_keras_serializable(package="sentiment")
class AttentionMask(keras.layers.Layer):
    """[b, t] keep -> [b, t, t] boolean mask: every query attends to the non-padding keys."""

    def call(self, keep):
        return ops.cast(keep[:, None, :] * ops.ones_like(keep)[:, :, None], "bool")


@keras.saving.register_keras_serializable(package="sentiment")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position to the token embeddings."""

    def __init__(self, length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.length, self.dim = length, dim

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(self.length, self.dim), initializer="glorot_uniform", name="positions")

    def call(self, x):
        return x + self.positions[None]

    def get_config(self):
        return {**super().get_config(), "length": self.length, "dim": self.dim}
