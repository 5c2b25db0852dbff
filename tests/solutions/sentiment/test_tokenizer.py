"""The plain-Python tokenizer must give exactly the ids of the Keras vocabulary layer."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.common.runtime import import_tensorflow
from solutions.sentiment.tokenizer import Tokenizer, TokenizerConfig, grams, split, standardize, vectorization_layer
from tests.solutions.sentiment.corpus import sentences

tf = import_tensorflow()

TRICKY = [
    "", "   ", "\t\n", "GREAT!!! Movie...", "don't,stop(now)&then", "ÉCOLE Ünder ÀB", "naïve café – ok",
    "a\xa0b c\x1cd e\u3000f g\x0bh i\x0cj k\rl m\x85n", "\u2028line\u2029sep", "emoji 😀 !", "x " * 400,
    "tabs\tand\nnewlines", "[brackets] {braces} <tags/> `tick` ~tilde^ |pipe| \\back", "MiXeD CaSe 123 4.5",
]


@pytest.mark.parametrize("ngrams", [1, 2])
def test_python_ids_equal_keras_layer(ngrams):
    neg, pos = sentences(300)
    texts = neg + pos + TRICKY
    layer = vectorization_layer(24, ngrams=ngrams, max_tokens=2000)
    layer.adapt(tf.data.Dataset.from_tensor_slices(texts[:500]).batch(128))
    tokenizer = Tokenizer([str(t) for t in layer.get_vocabulary()], TokenizerConfig(24, ngrams=ngrams))
    keras_ids = np.asarray(layer(tf.constant(texts)))
    python_ids = tokenizer(texts)
    mismatched = [t for t, a, b in zip(texts, keras_ids, python_ids) if not np.array_equal(a, b)]
    assert not mismatched, mismatched[:3]
    assert python_ids.dtype == np.int32 and python_ids.shape == (len(texts), 24)
    assert (python_ids == 1).any()  # out-of-vocabulary words exist and map to 1


def test_standardize_and_split_rules():
    assert split(standardize("Don't STOP!great")) == ["don't", "stop", "!", "great"]
    assert split(standardize("ÉCOLE")) == ["École"]  # ASCII-only lower-casing, as tf.strings.lower
    assert split("a\xa0b c") == ["a\xa0b", "c"]  # only ASCII whitespace separates
    assert grams(["a", "b", "c"], 2) == ["a", "b", "c", "a b", "b c"]


def test_empty_text_is_all_padding():
    tokenizer = Tokenizer(["", "[UNK]", "good"], TokenizerConfig(5))
    assert tokenizer([""]).tolist() == [[0, 0, 0, 0, 0]]
    assert tokenizer(["good bad"]).tolist() == [[2, 1, 0, 0, 0]]


def test_save_load_round_trip_and_adapt_is_deterministic(tmp_path):
    neg, pos = sentences(200)
    vocabularies = []
    for order in (neg + pos, pos[::-1] + neg[::-1]):
        layer = vectorization_layer(16, ngrams=2, max_tokens=500)
        layer.adapt(tf.data.Dataset.from_tensor_slices(order).batch(64))
        vocabularies.append([str(t) for t in layer.get_vocabulary()])
    assert vocabularies[0] == vocabularies[1]  # a resumed run re-adapts to the same ids
    tokenizer = Tokenizer(vocabularies[0], TokenizerConfig(32, ngrams=2))
    tokenizer.save(tmp_path)
    loaded = Tokenizer.load(tmp_path)
    assert loaded.vocabulary == tokenizer.vocabulary and loaded.config == tokenizer.config
    np.testing.assert_array_equal(loaded(neg), tokenizer(neg))


def test_vocabulary_must_start_with_padding_and_oov():
    with pytest.raises(ValueError):
        Tokenizer(["good", "bad"], TokenizerConfig(4))
