"""Every `--model` through the same builder: trains, saves, reloads, and converts to builtin-only TFLite."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch, tflite_batch
from solutions.common.runtime import import_tensorflow
from solutions.sentiment.model import MODELS, build_model, fit_mixing, naive_bayes_log_probs
from solutions.sentiment.tokenizer import vectorization_layer
from tests.solutions.sentiment.corpus import sentences

tf = import_tensorflow()
import keras  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    neg, pos = sentences(150)
    texts = neg + pos
    y = np.array([0] * len(neg) + [1] * len(pos))
    layer = vectorization_layer(32, ngrams=2, max_tokens=3000)
    layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(128))
    ids = np.asarray(layer(tf.constant(texts))).astype(np.int32)
    return ids, y, len(layer.get_vocabulary())


@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_saves_and_converts(name, corpus, tmp_path):
    ids, y, vocab = corpus
    keras.utils.set_random_seed(0)
    model = build_model(name, vocab_size=vocab, sequence_length=ids.shape[1], num_classes=2, embedding_dim=16,
                        width=16, train_ids=ids, train_labels=y, class_prior=np.array([0.5, 0.5]))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(ids, y, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    probs = model.predict(ids, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(ids, verbose=0), probs, atol=1e-6)

    assert tflite_batch(model) == (1 if name == "bilstm" else None)
    source = export_fixed_batch(model, tmp_path / "sm", batch=tflite_batch(model))
    runner = TFLiteRunner(convert_tflite(source, "float32"))
    assert not [op for op in runner.op_names() if op.lower().startswith("flex")]
    assert runner.dynamic_batch == (tflite_batch(model) is None)
    np.testing.assert_allclose(runner(ids[:40]), probs[:40], atol=1e-4)


def test_recurrent_model_needs_a_fixed_batch_for_builtin_ops(corpus, tmp_path):
    """The reason for `tflite_batch`: a dynamic batch puts TensorList ops (Flex) into an LSTM."""
    from solutions.common.errors import ExportError

    ids, y, vocab = corpus
    model = build_model("bilstm", vocab_size=vocab, sequence_length=ids.shape[1], num_classes=2, width=8)
    with pytest.raises(ExportError, match="TensorList|not TFLite builtins|conversion failed"):
        convert_tflite(export_fixed_batch(model, tmp_path / "sm", batch=None), "float32")


def test_naive_bayes_counts_each_gram_once_per_text():
    ids = np.array([[2, 2, 3, 0], [3, 0, 0, 0]])
    log_probs = naive_bayes_log_probs(ids, np.array([1, 0]), size=4, num_classes=2, alpha=1.0)
    # gram 2 occurs (once, binarised) only in the class-1 text: it must lean to class 1
    assert log_probs[2, 1] > log_probs[2, 0]
    np.testing.assert_allclose(log_probs.sum(axis=1), 0, atol=1e-6)  # centred per gram
    assert (log_probs[0] == 0).all()  # padding carries nothing


def test_mixing_is_fitted_on_validation_and_lowers_its_loss(corpus):
    ids, y, vocab = corpus
    keras.utils.set_random_seed(0)
    model = build_model("bow", vocab_size=vocab, sequence_length=ids.shape[1], num_classes=2,
                        train_ids=ids[::2], train_labels=y[::2])
    assert float(model.get_layer("naive_bayes_mix").scale) == 0.0  # the discriminative part trains alone
    mixing = fit_mixing(model, ids[1::2], y[1::2])
    assert mixing["val_log_loss_mixed"] <= mixing["val_log_loss_discriminative_only"]
    assert float(model.get_layer("naive_bayes_mix").scale) == pytest.approx(mixing["naive_bayes"])


def test_cli_model_choices_match_the_builder():
    from solutions.sentiment import Sentiment

    assert Sentiment.models == MODELS  # the CLI lists them without importing Keras


@pytest.fixture(scope="module")
def two_view_corpus():
    from solutions.sentiment.tokenizer import Tokenizer, TokenizerConfig, char_vectorization_layer

    neg, pos = sentences(150)
    texts = neg + pos
    y = np.array([0] * len(neg) + [1] * len(pos))
    words, chars = vectorization_layer(32, ngrams=2, max_tokens=3000), char_vectorization_layer(160, [2, 5], max_tokens=4000)
    for layer in (words, chars):
        layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(128))
    tokenizer = Tokenizer([str(t) for t in words.get_vocabulary()], TokenizerConfig(32, 2, char_ngrams=[2, 5], char_sequence_length=160),
                          [str(t) for t in chars.get_vocabulary()])
    return tokenizer(texts), y, tokenizer


def test_two_view_bow_trains_each_view_on_its_own_loss_and_ships_their_sum(two_view_corpus, tmp_path):
    from solutions.sentiment.model import (TWO_VIEW_TRAINER, exported_bow, mean_view_accuracy,
                                           per_view_crossentropy)

    ids, y, tokenizer = two_view_corpus
    keras.utils.set_random_seed(0)
    trainer = build_model("bow", vocab_size=len(tokenizer.vocabulary), sequence_length=32, num_classes=2,
                          embedding_dim=8, train_ids=ids[::2], train_labels=y[::2], class_prior=np.array([0.5, 0.5]),
                          char_vocab_size=len(tokenizer.char_vocabulary), char_length=160)
    assert trainer.name == TWO_VIEW_TRAINER and trainer.output.shape[1:] == (2, 2)
    trainer.compile(optimizer="adam", loss=per_view_crossentropy,
                    metrics=[keras.metrics.MeanMetricWrapper(mean_view_accuracy, name="accuracy")])
    trainer.fit(ids[::2], y[::2], epochs=3, batch_size=32, verbose=0)
    views = trainer.predict(ids[1::2], verbose=0)
    # the loss is each view's own cross-entropy, averaged: not the loss of one model over both bags
    own = [keras.losses.sparse_categorical_crossentropy(y[1::2], views[:, v]).numpy().mean() for v in (0, 1)]
    np.testing.assert_allclose(per_view_crossentropy(y[1::2], views).numpy().mean(), np.mean(own), rtol=1e-5)

    model = exported_bow(trainer)
    mixing = fit_mixing(model, ids[1::2], y[1::2])
    assert set(mixing) >= {"naive_bayes_words", "discriminative_words", "naive_bayes_chars", "discriminative_chars"}
    assert mixing["val_log_loss_mixed"] <= mixing["val_log_loss_discriminative_only"]
    probs = model.predict(ids, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert float(model.get_layer("discriminative_mix_chars").scale) == pytest.approx(mixing["discriminative_chars"])

    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(ids, verbose=0), probs, atol=1e-6)
    runner = TFLiteRunner(convert_tflite(export_fixed_batch(model, tmp_path / "sm", batch=None), "float32"))
    assert not [op for op in runner.op_names() if op.lower().startswith("flex")]
    np.testing.assert_allclose(runner(ids[:40]), probs[:40], atol=1e-4)


def test_sorted_first_occurrence_keeps_each_id_once():
    from solutions.sentiment.model import SortedFirstOccurrence

    ordered, keep = SortedFirstOccurrence()(np.array([[3, 0, 5, 3, 1, 5, 0]], np.int32))
    kept = sorted(int(i) for i, k in zip(np.asarray(ordered)[0], np.asarray(keep)[0]) if k)
    assert kept == [1, 3, 5]
