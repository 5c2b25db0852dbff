"""One builder for the four forecasters, over raw feature windows [batch, lookback, features].

The feature scaler fitted on the training days is a `Normalization` layer at the input, so the
exported models take the features exactly as `features.compute_features` makes them. The head
depends on the target:
- volatility: one output, the variance forecast (percent^2), exp of a linear unit; trained on
  QLIKE, the loss the forecast is scored with (Patton 2011: robust to the noisy r^2 proxy);
- return: the next log return (percent), trained on MSE; or 10/50/90% quantiles trained on the
  pinball loss, whose coverage on the test days is reported.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

import keras

MODELS = ("gru", "lstm", "conv1d", "transformer")
RECURRENT = ("gru", "lstm")
QUANTILES = (0.1, 0.5, 0.9)


@keras.saving.register_keras_serializable(package="finance")
def qlike(y_true, y_pred):
    """mean(log h + y / h): minimised by h = E[y]; the volatility forecast's score and loss."""
    y_true = keras.ops.reshape(keras.ops.cast(y_true, y_pred.dtype), keras.ops.shape(y_pred))
    return keras.ops.mean(keras.ops.log(y_pred) + y_true / y_pred, axis=-1)


@keras.saving.register_keras_serializable(package="finance")
class PinballLoss(keras.losses.Loss):
    """Quantile (pinball) loss averaged over the quantile outputs."""

    def __init__(self, quantiles: Sequence[float] = QUANTILES, name: str = "pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = tuple(float(q) for q in quantiles)

    def call(self, y_true, y_pred):
        y_true = keras.ops.reshape(keras.ops.cast(y_true, y_pred.dtype), (-1, 1))
        q = keras.ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        error = y_true - y_pred
        return keras.ops.mean(keras.ops.maximum(q * error, (q - 1.0) * error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "quantiles": list(self.quantiles)}


@keras.saving.register_keras_serializable(package="finance")
class PositiveVariance(keras.layers.Layer):
    """exp of a log-variance clipped to [low, high]: a model without saturating units (conv1d,
    transformer) meeting features beyond anything in training would otherwise forecast absurd
    variances; the range comes from the training targets."""

    def __init__(self, low: float = -20.0, high: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, z):
        return keras.ops.exp(keras.ops.clip(z, self.low, self.high))

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


@keras.saving.register_keras_serializable(package="finance")
class LastStep(keras.layers.Layer):
    """The last time step of a sequence: the summary a causal encoder ends with."""

    def call(self, x):
        return x[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="finance")
class PositionEmbedding(keras.layers.Layer):
    """A learned vector per window position, added to the projected features."""

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(input_shape[1], input_shape[2]), initializer="zeros",
                                         name="positions")

    def call(self, x):
        return x + self.positions


def output_kind(target: str, quantiles: bool) -> str:
    """Name of the output layer; `compile` reads the loss off it."""
    if target == "volatility":
        return "variance"
    return "return_quantiles" if quantiles else "return"


def build_model(
    kind: str,
    *,
    lookback: int,
    n_features: int,
    target: str = "volatility",
    quantiles: bool = False,
    feature_mean: np.ndarray | None = None,
    feature_variance: np.ndarray | None = None,
    output_bias: Sequence[float] | float = 0.0,
    log_variance_range: tuple[float, float] = (-20.0, 20.0),
    width: int = 32,
    depth: int = 1,
    dropout: float = 0.1,
) -> keras.Model:
    """A forecaster of `kind` (gru, lstm, conv1d, transformer) for one target."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")
    inputs = keras.Input((lookback, n_features), name="features")
    mean = np.zeros(n_features) if feature_mean is None else feature_mean
    variance = np.ones(n_features) if feature_variance is None else feature_variance
    x = keras.layers.Normalization(mean=mean, variance=variance, name="train_scaler")(inputs)
    if kind in RECURRENT:
        cell = keras.layers.GRU if kind == "gru" else keras.layers.LSTM
        for i in range(depth):
            x = cell(width, return_sequences=i < depth - 1, name=f"{kind}_{i}")(x)
            x = keras.layers.Dropout(dropout)(x)
    elif kind == "conv1d":
        x = _dilated_causal_stack(x, lookback=lookback, width=width, depth=depth, dropout=dropout)
    else:
        x = _transformer(x, width=width, depth=depth, dropout=dropout)
    name = output_kind(target, quantiles)
    units = len(QUANTILES) if name == "return_quantiles" else 1
    bias = np.broadcast_to(np.asarray(output_bias, dtype=float), (units,))
    head = keras.layers.Dense(units, bias_initializer=keras.initializers.Constant(bias.tolist()), name="head")(x)
    outputs = PositiveVariance(*log_variance_range, name=name)(head) if name == "variance" else keras.layers.Identity(name=name)(head)
    return keras.Model(inputs, outputs, name=f"finance_{kind}")


def _dilated_causal_stack(x, *, lookback: int, width: int, depth: int, dropout: float):
    """WaveNet-style: kernel 2, dilations 1, 2, 4, ... until the receptive field covers the window
    (`depth` repeats of that stack), normalised residual connections, the last step summarises."""
    levels = max(1, math.ceil(math.log2(lookback)))
    x = keras.layers.Conv1D(width, 1, name="conv_in")(x)
    for d in range(depth):
        for level in range(levels):
            y = keras.layers.Conv1D(width, 2, padding="causal", dilation_rate=2**level, activation="relu",
                                    name=f"conv_{d}_{level}")(x)
            y = keras.layers.Dropout(dropout)(y)
            x = keras.layers.LayerNormalization(epsilon=1e-6)(keras.layers.Add()([x, y]))
    return LastStep(name="last_step")(x)


def _transformer(x, *, width: int, depth: int, dropout: float, heads: int = 4):
    """Pre-norm encoder blocks over the window (every position is in the past of the forecast)."""
    x = keras.layers.Dense(width, name="project")(x)
    x = PositionEmbedding(name="positions")(x)
    for i in range(depth):
        y = keras.layers.LayerNormalization(epsilon=1e-6)(x)
        y = keras.layers.MultiHeadAttention(heads, max(1, width // heads), dropout=dropout, name=f"attention_{i}")(y, y)
        x = keras.layers.Add()([x, y])
        y = keras.layers.LayerNormalization(epsilon=1e-6)(x)
        y = keras.layers.Dense(2 * width, activation="gelu")(y)
        y = keras.layers.Dropout(dropout)(y)
        y = keras.layers.Dense(width)(y)
        x = keras.layers.Add()([x, y])
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    return LastStep(name="last_step")(x)


def loss_for(model: keras.Model):
    """The training loss that matches the model's output (see the module docstring)."""
    name = model.layers[-1].name
    if name == "variance":
        return qlike
    if name == "return_quantiles":
        return PinballLoss()
    return keras.losses.MeanSquaredError()
