"""Every forecaster trains, reloads, and converts to builtin-op TFLite that matches Keras."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch, tflite_batch
from solutions.timeseries_finance.data import load_arch
from solutions.timeseries_finance.features import Statistics, compute_features, targets, windows
from solutions.timeseries_finance.model import MODELS, QUANTILES, PinballLoss, build_model, loss_for, qlike

LOOKBACK = 10


@pytest.fixture(scope="module")
def real_windows():
    series = compute_features(load_arch("sp500"))
    stats = Statistics.fit(series, (0, 3000))
    origins = np.arange(LOOKBACK, 610)
    y = targets(series.returns, target="volatility", horizon=1, mean_return=stats.mean_return)[origins]
    return windows(series.features, origins, LOOKBACK), y.astype(np.float32), stats


@pytest.mark.parametrize("kind", MODELS)
def test_model_trains_reloads_and_converts_to_builtin_tflite(kind, real_windows, tmp_path):
    x, y, stats = real_windows
    model = build_model(kind, lookback=LOOKBACK, n_features=x.shape[2], feature_mean=stats.feature_mean,
                        feature_variance=stats.feature_variance, output_bias=float(np.log(y.mean())), width=8)
    model.compile(optimizer="adam", loss=loss_for(model))
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    out = model.predict(x, verbose=0)
    assert out.shape == (len(x), 1) and (out > 0).all()

    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), out, rtol=1e-6)

    batch = tflite_batch(model)
    assert batch == (1 if kind in ("gru", "lstm") else None)
    runner = TFLiteRunner(convert_tflite(export_fixed_batch(model, tmp_path / "sm", batch=batch), "float32"))
    assert not [op for op in runner.op_names() if op.lower().startswith("flex")]
    np.testing.assert_allclose(runner(x[:50]), out[:50], atol=1e-4)


def test_scaler_inside_the_model_is_the_training_one(real_windows):
    x, _, stats = real_windows
    model = build_model("gru", lookback=LOOKBACK, n_features=x.shape[2], feature_mean=stats.feature_mean,
                        feature_variance=stats.feature_variance, width=4)
    layer = model.get_layer("train_scaler")
    np.testing.assert_allclose(np.ravel(layer.mean), stats.feature_mean, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(layer.variance), stats.feature_variance, rtol=1e-6)


def test_return_heads_and_their_losses(real_windows):
    x, _, _ = real_windows
    point = build_model("conv1d", lookback=LOOKBACK, n_features=x.shape[2], target="return", width=4)
    quantiles = build_model("conv1d", lookback=LOOKBACK, n_features=x.shape[2], target="return", quantiles=True,
                            output_bias=[-1.0, 0.0, 1.0], width=4)
    assert point.output_shape == (None, 1) and quantiles.output_shape == (None, len(QUANTILES))
    assert isinstance(loss_for(point), keras.losses.MeanSquaredError)
    assert isinstance(loss_for(quantiles), PinballLoss)


def test_losses_are_minimised_where_they_should_be():
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(5000) ** 2 * 2.0).astype(np.float32)  # squared returns, variance 2
    values = {h: float(np.mean(qlike(y[:, None], np.full((5000, 1), h, np.float32)))) for h in (1.0, 2.0, 3.0)}
    assert values[2.0] < values[1.0] and values[2.0] < values[3.0]
    r = rng.standard_normal(5000).astype(np.float32)
    pinball = PinballLoss()
    right = np.tile(np.quantile(r, QUANTILES), (5000, 1)).astype(np.float32)
    wrong = right + 0.5
    assert float(pinball(r, right)) < float(pinball(r, wrong))
