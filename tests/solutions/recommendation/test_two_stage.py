"""The two-stage retrieval model: candidates and features from the history alone, finite for users
and items the history lacks, the exported layer computing what training computed, a reranker that
ranks what it learned, and a model that saves, reloads and converts to builtin-op TFLite."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.recommendation import two_stage as ts


def _world(seed: int = 0, n_users: int = 60, n_items: int = 48):
    """Three groups of users, each rating mostly its own third of the catalogue, at its own time;
    the last four items are never rated (a catalogue with unrated items)."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_users) % 3
    pairs = set()
    for u in range(n_users):
        block = np.arange(group[u] * 14, group[u] * 14 + 14)
        for i in rng.choice(block, 8, replace=False):
            pairs.add((u, int(i)))
        pairs.add((u, int(rng.integers(0, 44))))
    pairs = np.array(sorted(pairs))
    values = np.full((n_users, n_items), np.nan, np.float32)
    values[pairs[:, 0], pairs[:, 1]] = rng.integers(1, 6, len(pairs))
    times = np.full((n_users, n_items), np.nan)
    times[pairs[:, 0], pairs[:, 1]] = 8e8 + group[pairs[:, 0]] * 1e7 + rng.random(len(pairs)) * 1e6
    genres = (np.arange(n_items)[:, None] // 16 == np.arange(3)[None, :]).astype(np.float32)
    side = ts.Side(values, times, occupation=group, age=(np.arange(n_users) // 7) % 4,
                   male=(np.arange(n_users) % 2).astype(np.float32), genres=genres)
    return pairs, side


def test_candidates_leave_out_the_history_and_every_feature_is_finite():
    pairs, side = _world()
    history = pairs[pairs[:, 0] != 5]  # user 5 has no history: cold, as are the never-rated items
    users = np.array([0, 5, 7], np.int32)
    cand, features = ts.candidate_examples(ts.stage_tables(history, side), users, 10)
    assert cand.shape == (3, 10) and features.shape == (3, 10, ts.feature_count(True, True, True)) == (3, 10, 13)
    assert np.isfinite(features).all()
    seen = {(u, i) for u, i in history}
    assert not any((u, i) in seen for k, u in enumerate(users) for i in cand[k])
    assert len(set(cand[0])) == 10  # no candidate twice
    rank = features[:, :, 1]  # candidates above this one, best first: 0, 1, 2, ... (a tie shares its rank)
    assert (rank[:, 0] == 0).all() and (np.diff(rank, axis=1) >= 0).all() and (rank <= np.arange(10)).all()
    counts = np.bincount(history[:, 1], minlength=side.values.shape[1])
    assert set(counts[cand[1]]) <= set(np.sort(counts)[-10:])  # the cold user's candidates: the most-rated items
    bare = ts.Side(side.values)  # a CSV without timestamps, demographics or genres
    assert ts.candidate_examples(ts.stage_tables(history, bare), users, 10)[1].shape == (3, 10, 7)


def test_features_read_only_the_history():
    """`Side` holds every rating, the test split's too: changing the ratings and times outside the
    history must leave the candidates and features as they are (no leak from the held-out pairs)."""
    pairs, side = _world()
    history, users = pairs[::2], np.array([0, 3, 9], np.int32)
    cand, features = ts.candidate_examples(ts.stage_tables(history, side), users, 10)
    outside = np.ones(side.values.shape, bool)
    outside[history[:, 0], history[:, 1]] = False
    changed = ts.Side(np.where(outside, -7.0, side.values), np.where(outside, 9e9, side.times), side.occupation,
                      side.age, side.male, side.genres)
    cand2, features2 = ts.candidate_examples(ts.stage_tables(history, changed), users, 10)
    assert (cand == cand2).all() and np.allclose(features, features2)


def test_demographics_need_every_user_described():
    from solutions.recommendation.data import Ratings
    from solutions.recommendation.splits import IdMaps

    ratings = Ratings(np.array(["a", "b"]), np.array(["x", "y"]), np.array([4.0, 3.0], np.float32), None, "t", (1.0, 5.0))
    ratings.user_features = {"a": {"age": "24", "gender": "M", "occupation": "writer"}}
    maps = IdMaps.fit(ratings)
    assert ts.side_of(ratings, maps).occupation is None  # b is not described: no demographic features
    ratings.user_features["b"] = {"age": "51", "gender": "F", "occupation": "nurse"}
    side = ts.side_of(ratings, maps)
    assert list(side.age) == [2, 5] and list(side.male) == [1.0, 0.0] and len(set(side.occupation)) == 2


def _trained(side, pairs, epochs: int = 6):
    import keras

    keras.utils.set_random_seed(0)
    x, y = ts.training_examples(pairs, side, seed=0, repeats=2, n_candidates=10)
    assert x.shape[1] == 2 and y.shape == x.shape[:2] and 0 < y.mean() < 1
    trainer = ts.reranker_trainer(x.shape[-1], repeats=2, units=16)
    trainer.get_layer("reranker").adapt(x)
    trainer.compile(keras.optimizers.Adam(3e-3), keras.losses.BinaryCrossentropy())
    trainer.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return trainer.get_layer("reranker")


def test_the_exported_layer_scores_what_training_computed_and_the_reranker_learned():
    pairs, side = _world()
    rng = np.random.default_rng(1)
    held = rng.random(len(pairs)) < 0.2
    train, test = pairs[~held], pairs[held]
    reranker = _trained(side, train)
    tables = ts.stage_tables(train, side)
    layer = ts.TwoStage.for_tables(tables, candidates=10, repeats=2, units=16)
    layer.reranker.set_weights(reranker.get_weights())
    users = np.unique(test[:, 0]).astype(np.int32)
    scores = np.asarray(layer.all_item_scores(users))
    cand, features = ts.candidate_examples(tables, users, 10)
    p = np.asarray(reranker.probability(features))
    assert np.allclose(np.take_along_axis(scores, cand, 1), 1.0 + p, atol=1e-5)  # the same features, in the model
    others = np.ones(scores.shape, bool)
    np.put_along_axis(others, cand, False, 1)
    assert (scores[others] < 0).all() and (scores[~others] > 1).all()
    assert np.allclose(np.asarray(layer.pair_scores(users, cand[:, 0])), scores[np.arange(len(users)), cand[:, 0]])
    # the learnt order beats a random order of the same candidates (hits in each user's top 3)
    truth = np.zeros(side.values.shape, bool)
    truth[test[:, 0], test[:, 1]] = True
    learnt = np.take_along_axis(cand, np.argsort(-p, 1, kind="stable"), 1)[:, :3]
    shuffled = np.array([rng.permutation(row) for row in cand])[:, :3]
    assert truth[users[:, None], learnt].sum() > truth[users[:, None], shuffled].sum()


def test_tables_must_fit_the_layer():
    pairs, side = _world()
    layer = ts.TwoStage.for_tables(ts.stage_tables(pairs, side), candidates=10)
    with pytest.raises(ValueError, match="do not fit"):
        layer.set_tables(ts.stage_tables(pairs, ts.Side(side.values)))


def test_the_model_reloads_and_converts_to_builtin_tflite(tmp_path):
    import keras

    from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch
    from solutions.recommendation.model import top_k_model

    pairs, side = _world()
    layer = ts.TwoStage.for_tables(ts.stage_tables(pairs, side), candidates=10, repeats=2, units=16)
    model = ts.serving_model(layer)
    users = np.arange(12, dtype=np.int32)
    expected = np.asarray(model(users))
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert np.allclose(np.asarray(again(users)), expected, atol=1e-6)
    rated = np.zeros(side.values.shape, np.int8)
    rated[pairs[:, 0], pairs[:, 1]] = 1
    head = top_k_model(again, rated, 5)
    runner = TFLiteRunner(convert_tflite(export_fixed_batch(head, tmp_path / "sm", batch=None,
                                                            output_names=("scores", "items")), "float32"))
    assert not [op for op in runner.op_names() if op.lower().startswith("flex")]
    interpreter = runner.interpreter
    interpreter.resize_tensor_input(runner.input["index"], [len(users)])
    interpreter.allocate_tensors()
    interpreter.set_tensor(runner.input["index"], users)
    interpreter.invoke()
    outputs = [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
    values = next(o for o in outputs if np.issubdtype(o.dtype, np.floating))
    keras_values = np.sort(expected - 1e4 * rated[users], axis=1)[:, ::-1][:, :5]
    assert np.allclose(values, keras_values, atol=1e-5)


def test_a_large_catalogue_trains_the_two_tower_model_and_says_so(tmp_path, monkeypatch):
    from solutions.recommendation.source import RankingSource

    rng = np.random.default_rng(0)
    rows = sorted({(int(u), int(i)) for u, i in zip(rng.integers(0, 30, 900), rng.integers(0, 40, 900))})
    (tmp_path / "r.csv").write_text("user,item,rating\n" + "".join(f"{u},{i},{(u + i) % 5 + 1}\n" for u, i in rows))
    options = {"data": str(tmp_path / "r.csv"), "dataset": None, "user_column": "user", "item_column": "item",
               "rating_column": "rating", "timestamp_column": None, "rating_scale": None, "split": "random",
               "val_split": 0.1, "test_split": 0.2, "seed": 0, "task": "retrieval", "model": "two_stage"}
    assert RankingSource().load_splits(options).resolved.get("model") is None  # 40 items: two_stage
    monkeypatch.setattr(ts, "TWO_STAGE_MAX_ITEMS", 30)
    splits = RankingSource().load_splits(options)
    assert splits.resolved["model"] == "two_tower"
    assert any(note.startswith("Model two_tower (from the data: 40 items") for note in splits.source["notes"])
    assert RankingSource().load_splits({**options, "model": "two_tower"}).resolved.get("model") is None
    monkeypatch.setattr(ts, "TWO_STAGE_MAX_ITEMS", 2_500)
    monkeypatch.setattr(ts, "TWO_STAGE_MAX_CELLS", 500)  # 30 users x 40 items: many users, few items
    splits = RankingSource().load_splits(options)
    assert splits.resolved["model"] == "two_tower"
    assert any("30 users x 40 items" in note for note in splits.source["notes"])


def test_runs_saved_before_the_two_stage_model_resume_as_they_trained():
    """A retrieval run or search saved before `units` existed trained the two-tower model without
    --model: resumed or replayed, it must rebuild that model, not the new default."""
    from solutions.common.solution import get_solution

    solution = get_solution("recommendation")
    old = {"task": "retrieval", "model": None, "dataset": "movielens-100k"}
    assert solution.resolve(solution.with_legacy_options(old))["model"] == "two_tower"
    assert solution.resolve({**old, "units": 64})["model"] == "two_stage"
    assert solution.resolve({**old, "model": "two_stage", "units": None})["model"] == "two_stage"  # asked
    assert solution.resolve({"task": "rating", "units": None})["model"] == "autorec"


def test_the_model_has_no_batched_matmul():
    """oneDNN's batched matmul corrupts memory on AVX-512 CPUs (tensorflow/tensorflow#117700,
    PITFALLS "Native crashes"), which this 2-core AVX2 machine cannot show: the exported graph must
    keep to plain MatMul (features [b, items, F] through Dense layers would be one if Keras did not
    fold them)."""
    from solutions.common.runtime import import_tensorflow

    tf = import_tensorflow()
    pairs, side = _world()
    model = ts.serving_model(ts.TwoStage.for_tables(ts.stage_tables(pairs, side), candidates=10))
    graph = tf.function(lambda users: model(users)).get_concrete_function(tf.TensorSpec([None], tf.int32)).graph
    definition = graph.as_graph_def()
    ops = {node.op for node in definition.node} | {node.op for f in definition.library.function for node in f.node_def}
    assert "MatMul" in ops and not {op for op in ops if op.startswith("BatchMatMul")}, sorted(ops)


def test_two_tower_flags_without_the_two_tower_model_are_one_clear_error():
    """--dim, --side-features, --temperature or --no-sampling-correction meant the two-tower model
    before it stopped being the default: the two-stage model would ignore them silently."""
    from solutions.common.errors import UserError
    from solutions.common.solution import get_solution

    solution = get_solution("recommendation")
    options = {"dataset": "movielens-100k", "task": "retrieval", "model": None, "units": 64, "rating_column": "rating",
               "temperature": 0.2, "sampling_correction": True, "dim": None, "side_features": False}
    solution.check_data_source(options)  # the default model's own flags
    for extra, flag in (({"dim": 16}, "--dim"), ({"side_features": True}, "--side-features"),
                        ({"temperature": 0.1}, "--temperature"), ({"sampling_correction": False}, "--no-sampling")):
        with pytest.raises(UserError, match=f"{flag}.*add --model two_tower"):
            solution.check_data_source({**options, **extra})
        solution.check_data_source({**options, **extra, "model": "two_tower"})
        solution.check_data_source({**options, **extra, "units": None})  # a run from before two_stage: two-tower
