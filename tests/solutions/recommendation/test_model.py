"""Rating models: save/reload, AutoRec as the factor model it is, top-K in Keras and TFLite."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch, tf
from solutions.recommendation.export import export_recommender, keras_top_k, tflite_top_k
from solutions.recommendation.model import autorec_scorer, build_model, observed_squared_error, top_k_model

N_USERS, N_ITEMS = 40, 60


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    pairs = np.unique(np.stack([rng.integers(0, N_USERS, 900), rng.integers(0, N_ITEMS, 900)], 1), axis=0)
    ratings = rng.integers(1, 6, len(pairs)).astype(np.float32)
    rated = np.zeros((N_USERS, N_ITEMS), np.int8)
    rated[pairs[:, 0], pairs[:, 1]] = 1
    return pairs.astype(np.int32), ratings, rated


@pytest.mark.parametrize("kind", ["mf", "neural"])
def test_pair_models_train_reload_and_rank_in_tflite(kind, data, tmp_path):
    pairs, ratings, rated = data
    side = np.random.default_rng(1).random((N_ITEMS, 4)).astype(np.float32) if kind == "neural" else None
    model = build_model(kind, n_users=N_USERS, n_items=N_ITEMS, dim=8, item_features=side)
    model.compile(optimizer="adam", loss="mse")
    model.fit(pairs, ratings, epochs=2, verbose=0)
    out = model.predict(pairs, verbose=0)
    assert out.shape == (len(pairs), 1) and out.min() >= 1 and out.max() <= 5
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(pairs, verbose=0), out, atol=1e-6)

    users = np.arange(N_USERS)
    values, indices = keras_top_k(model, rated, users, 5)
    assert not rated[users[:, None], indices].any()  # nothing the user rated in training
    head = top_k_model(model, rated, 5)
    runner = TFLiteRunner(convert_tflite(export_fixed_batch(head, tmp_path / "sm", batch=None), "float32"))
    assert "TOPK_V2" in runner.op_names() and not [o for o in runner.op_names() if o.lower().startswith("flex")]
    t_values, t_indices = tflite_top_k(runner, users)
    np.testing.assert_allclose(t_values, values, atol=1e-5)
    assert ((t_indices == indices) | (np.abs(t_values - values) < 1e-5)).all()


def test_autorec_becomes_the_factor_model_of_its_decoder(data):
    pairs, ratings, _ = data
    matrix = np.zeros((N_ITEMS, N_USERS), np.float32)
    matrix[pairs[:, 1], pairs[:, 0]] = ratings
    trainer = build_model("autorec", n_users=N_USERS, n_items=N_ITEMS, hidden=16, l2=0.01)
    trainer.compile(optimizer="adam", loss=observed_squared_error)
    trainer.fit(matrix, matrix, epochs=3, batch_size=N_ITEMS, verbose=0)
    reconstruction = trainer.predict(matrix, verbose=0)  # [items, users]
    scorer = autorec_scorer(trainer, matrix, low=-100.0, high=100.0)  # no clipping: exact equality
    grid = np.stack(np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij"), -1).reshape(-1, 2)
    scores = scorer.predict(grid.astype(np.int32), verbose=0)[:, 0].reshape(N_USERS, N_ITEMS)
    np.testing.assert_allclose(scores, reconstruction.T, atol=1e-4)


def test_saved_model_has_score_and_recommend_signatures(data, tmp_path):
    pairs, ratings, rated = data
    model = build_model("mf", n_users=N_USERS, n_items=N_ITEMS, dim=4)
    export_recommender(model, tmp_path / "sm", rated)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert {"serving_default", "score", "recommend"} <= set(loaded.signatures)
    score = loaded.signatures["score"](user=tf.constant([3, 4]), item=tf.constant([5, 6]))["rating"].numpy()
    np.testing.assert_allclose(score, model.predict(np.array([[3, 5], [4, 6]], np.int32), verbose=0)[:, 0], atol=1e-6)
    out = loaded.signatures["recommend"](user=tf.constant([3]), k=tf.constant(7))
    items = out["items"].numpy()[0]
    assert len(items) == 7 and not rated[3, items].any()
    np.testing.assert_array_equal(items, keras_top_k(model, rated, np.array([3]), 7)[1][0])
