"""The plain-Python tokenizer must give exactly the ids of the Keras vocabulary layer."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.common.errors import UserError
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


def _char_tokenizer(texts, words: int = 24, chars: int = 120) -> tuple[Tokenizer, object]:
    from solutions.sentiment.tokenizer import char_vectorization_layer

    word_layer = vectorization_layer(words, ngrams=2, max_tokens=2000)
    char_layer = char_vectorization_layer(chars, [2, 5], max_tokens=3000)
    for layer in (word_layer, char_layer):
        layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(128))
    config = TokenizerConfig(words, ngrams=2, char_ngrams=[2, 5], char_sequence_length=chars)
    tokenizer = Tokenizer([str(t) for t in word_layer.get_vocabulary()], config,
                          [str(t) for t in char_layer.get_vocabulary()])
    return tokenizer, tokenizer.keras_layer()


def test_character_ngrams_python_ids_equal_keras_layers():
    """The word segment then the character segment, identical in both engines, tricky texts too."""
    neg, pos = sentences(300)
    texts = neg + pos + TRICKY
    tokenizer, layer = _char_tokenizer(neg[:200] + pos[:200])
    keras_ids = np.asarray(layer(tf.constant(texts)))
    python_ids = tokenizer(texts)
    mismatched = [t for t, a, b in zip(texts, keras_ids, python_ids) if not np.array_equal(a, b)]
    assert not mismatched, mismatched[:3]
    assert python_ids.shape == (len(texts), 24 + 120) and python_ids.dtype == np.int32
    chars = python_ids[:, 24:]
    assert (chars > 1).any() and (chars == 1).any()  # known and out-of-vocabulary character n-grams
    assert (python_ids[texts.index("")] == 0).all()


def test_character_ngram_rule():
    from solutions.sentiment.tokenizer import char_grams

    # standardized words joined by one space; all 2-grams, then all 3-grams
    assert char_grams("Ab  C!", 2, 3) == ["ab", "b ", " c", "c ", " !", "ab ", "b c", " c ", "c !"]
    assert char_grams("a", 2, 5) == []


def test_character_vocabulary_round_trip(tmp_path):
    neg, pos = sentences(100)
    tokenizer, _ = _char_tokenizer(neg + pos)
    tokenizer.save(tmp_path)
    assert (tmp_path / "char_vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == tokenizer.char_vocabulary
    loaded = Tokenizer.load(tmp_path)
    assert loaded.config == tokenizer.config and loaded.char_vocabulary == tokenizer.char_vocabulary
    np.testing.assert_array_equal(loaded(neg), tokenizer(neg))
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(UserError, match="tokenizer.json"):
        Tokenizer.load(tmp_path)
    tokenizer.save(tmp_path)
    (tmp_path / "char_vocab.txt").unlink()
    with pytest.raises(UserError, match="char_vocab.txt"):
        Tokenizer.load(tmp_path)


def test_tokenizer_json_lets_a_client_rebuild_the_ids_without_the_kit(tmp_path):
    """An app developer had only "ascii_lower_split_punctuation" to go on: a natural reading
    (Python's string.punctuation, character n-grams of the raw text) moved probabilities by up to
    0.155. tokenizer.json now states each step; this client follows the words alone."""
    import json
    import re

    neg, pos = sentences(100)
    tokenizer, _ = _char_tokenizer(neg + pos)
    tokenizer.save(tmp_path)
    record = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    rules, example = record["rules"], record["example"]
    punctuation = rules["2_punctuation"].split("after it: ", 1)[1].split(" (the apostrophe", 1)[0]
    assert "'" not in punctuation and len(punctuation) == 31
    vocab = (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    char_vocab = (tmp_path / "char_vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]

    def client(text: str) -> list[int]:
        lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
        spaced = "".join(f" {c} " if c in punctuation else c for c in lowered)
        tokens = [t for t in re.split(r"[ \t\n\x0b\x0c\r]+", spaced) if t]
        n = record["ngrams"]
        words = tokens + [" ".join(tokens[i:i + k]) for k in range(2, n + 1) for i in range(len(tokens) - k + 1)]

        def look_up(items, table, length):
            index = {t: i for i, t in enumerate(table) if i >= 2}
            ids = [index.get(t, 1) for t in items][:length]
            return ids + [0] * (length - len(ids))

        joined = " ".join(tokens)
        low, high = record["char_ngrams"]
        chars = [joined[i:i + k] for k in range(low, high + 1) for i in range(len(joined) - k + 1)]
        return (look_up(words, vocab, record["sequence_length"])
                + look_up(chars, char_vocab, record["char_sequence_length"]))

    texts = neg[:50] + pos[:50] + TRICKY + [example["text"]]
    assert [client(t) for t in texts] == tokenizer(texts).tolist()
    assert client(example["text"])[:len(example["word_ids_first"])] == example["word_ids_first"]
    assert Tokenizer.load(tmp_path).config == tokenizer.config  # the rules and example are not settings
