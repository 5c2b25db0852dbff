"""Rating models: save/reload, AutoRec as the factor model it is, top-K in Keras and TFLite."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch, tf
from solutions.recommendation.export import export_recommender, keras_top_k, tflite_top_k
from solutions.recommendation.model import (
    Blend,
    MaskedRMSE,
    autorec_scorer,
    build_model,
    fit_blend,
    observed_squared_error,
    top_k_model,
)
from solutions.recommendation.splits import Biases

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


def test_autorec_becomes_the_factor_model_of_its_decoders(data):
    pairs, ratings, _ = data
    matrix = np.zeros((N_ITEMS, N_USERS), np.float32)
    matrix[pairs[:, 1], pairs[:, 0]] = ratings
    trainer = build_model("autorec", n_users=N_USERS, n_items=N_ITEMS, hidden=16, l2=0.01)
    trainer.compile(optimizer="adam", loss=observed_squared_error)
    trainer.fit(matrix, matrix, epochs=3, batch_size=N_ITEMS, verbose=0)  # the whole catalogue per batch
    reconstruction = trainer.predict(matrix, batch_size=N_ITEMS, verbose=0)  # [items, users, sides]
    assert reconstruction.shape == (N_ITEMS, N_USERS, 2)
    biases = Biases(3.0, np.linspace(-0.5, 0.5, N_USERS), np.linspace(0.4, -0.4, N_ITEMS))
    blend = Blend((0.6, 0.3), bias_weight=0.2, intercept=0.1)
    scorer = autorec_scorer(trainer, matrix, low=-100.0, high=100.0, blend=blend, biases=biases)  # no clipping
    grid = np.stack(np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij"), -1).reshape(-1, 2)
    scores = scorer.predict(grid.astype(np.int32), verbose=0)[:, 0].reshape(N_USERS, N_ITEMS)
    expected = (0.6 * reconstruction[..., 0] + 0.3 * reconstruction[..., 1]).T + 0.2 * biases(grid).reshape(
        N_USERS, N_ITEMS) + 0.1
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    alone = autorec_scorer(trainer, matrix, low=-100.0, high=100.0)  # no blend: the item side alone
    np.testing.assert_allclose(alone.predict(grid.astype(np.int32), verbose=0)[:, 0].reshape(N_USERS, N_ITEMS),
                               reconstruction[..., 0].T, atol=1e-4)


def test_blend_is_fitted_on_validation_and_shrunk_when_it_is_small():
    rng = np.random.default_rng(0)
    item, user, bias = (rng.normal(3.5, 1.0, 5000) for _ in range(3))
    y = 0.5 * item + 0.3 * user + 0.2 * bias + rng.normal(0, 0.05, 5000)
    blend = fit_blend([item, user], bias, y)
    np.testing.assert_allclose([*blend.weights, blend.bias_weight], [0.5, 0.3, 0.2], atol=0.02)
    assert abs(blend.intercept) < 0.05
    few = fit_blend([item[:5], user[:5]], bias[:5], y[:5])  # five ratings cannot outweigh the prior
    assert few.weights[0] > 0.8 and abs(few.weights[1]) < 0.2 and abs(few.bias_weight) < 0.2
    mean_prediction = few.weights[0] * 3.5 + (few.weights[1] + few.bias_weight) * 3.5 + few.intercept
    assert abs(mean_prediction - 3.5) < 0.2  # the weights' move does not shift the ratings' level


def test_autorec_without_its_user_side_trains_on_items_alone(data):
    pairs, ratings, _ = data
    matrix = np.zeros((N_ITEMS, N_USERS), np.float32)
    matrix[pairs[:, 1], pairs[:, 0]] = ratings
    trainer = build_model("autorec", n_users=N_USERS, n_items=N_ITEMS, hidden=8, user_side=False)
    assert trainer.output.shape[1:] == (N_USERS, 1)  # items can be split across replicas
    trainer.compile(optimizer="adam", loss=observed_squared_error, metrics=[MaskedRMSE()])
    half = N_ITEMS // 2  # a replica's share of the catalogue
    result = trainer.evaluate(matrix[:half], matrix[:half], batch_size=half, verbose=0, return_dict=True)
    reconstruction = trainer.predict(matrix[:half], batch_size=half, verbose=0)[..., 0]
    rated = matrix[:half] > 0
    squared = np.where(rated, (matrix[:half] - reconstruction) ** 2, 0.0)
    np.testing.assert_allclose(result["loss"], squared.sum() / half, rtol=1e-4)
    np.testing.assert_allclose(result["rmse"], np.sqrt(squared.sum() / rated.sum()), rtol=1e-4)


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


@pytest.mark.parametrize("user,item", [(-1, 5), (N_USERS, 5), (3, -1), (3, N_ITEMS)])
def test_signatures_refuse_an_index_outside_the_model(data, tmp_path, user, item):
    """-1 must not answer for the last user (a gather wraps it as NumPy does): every signature
    refuses an index outside [0, n) with a message naming it, as the server's 400 shows it."""
    from solutions.common.serving_server import model_error

    _, _, rated = data
    model = build_model("mf", n_users=N_USERS, n_items=N_ITEMS, dim=4)
    export_recommender(model, tmp_path / "sm", rated)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    what, bad = ("user", user) if user in (-1, N_USERS) else ("item", item)
    calls = [lambda: loaded.signatures["score"](user=tf.constant([3, user]), item=tf.constant([4, item])),
             lambda: loaded.signatures["serve"](user_item=tf.constant([[3, 4], [user, item]], tf.int32))]
    if what == "user":
        calls.append(lambda: loaded.signatures["recommend"](user=tf.constant([user]), k=tf.constant(3)))
    for call in calls:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            call()
        message = str(model_error(info.value))
        assert f"{what} index(es) outside 0..{(N_USERS if what == 'user' else N_ITEMS) - 1}" in message, message
        assert f"{bad}" in message.split(":")[-1] and "\n" not in message


@pytest.mark.parametrize("kind", ["mf", "neural", "two_tower"])
def test_tflite_files_fail_on_an_index_outside_the_model(kind, data, tmp_path):
    """The TFLite files carry no assert: -1 (what `List.indexOf` answers for an unknown id) once
    wrapped to the last user in GATHER. It must fail like an index past the end, in the pair model
    and in the top-K model, and leave every valid index's answer as it was."""
    from solutions.recommendation.retrieval import TwoTower, serving_model

    _, _, rated = data
    if kind == "two_tower":
        model = serving_model(TwoTower(N_USERS, N_ITEMS, 8))
        model(np.arange(3, dtype=np.int32))
        good, bad_inputs = np.array([3], np.int32), [np.array([-1], np.int32), np.array([N_USERS], np.int32)]
    else:
        model = build_model(kind, n_users=N_USERS, n_items=N_ITEMS, dim=4)
        model(np.array([[0, 0]], np.int32))
        good = np.array([[3, 4]], np.int32)
        bad_inputs = [np.array([[-1, 4]], np.int32), np.array([[3, -1]], np.int32),
                      np.array([[N_USERS, 4]], np.int32)]
    pair = TFLiteRunner(convert_tflite(export_fixed_batch(model, tmp_path / "pair", batch=None), "float32"))
    np.testing.assert_allclose(pair(good), model.predict(good, verbose=0), atol=1e-5)
    head = TFLiteRunner(convert_tflite(export_fixed_batch(top_k_model(model, rated, 3), tmp_path / "top", batch=None),
                                      "float32"))
    assert tflite_top_k(head, np.array([3]))[1].shape == (1, 3)
    for x in bad_inputs:
        with pytest.raises(RuntimeError, match="out of bounds|outside"):
            pair(x)
    for user in (-1, -N_USERS, N_USERS):
        with pytest.raises(RuntimeError, match="out of bounds|outside"):
            tflite_top_k(head, np.array([user]))
    if not tf.config.list_physical_devices("GPU"):  # a GPU's gather answers zeros, XLA clamps
        with pytest.raises(tf.errors.InvalidArgumentError):  # the Keras model itself (TensorFlow's gather)
            model.predict(bad_inputs[0], verbose=0)
