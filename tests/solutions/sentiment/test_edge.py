"""The edge model's tokenizer is MediaPipe's: the same ids for the same text, checked by running
MediaPipe's TextClassifier on a model whose scores are its input ids."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.sentiment.edge import DELIMITER, RegexTokenizer

TEXTS = [
    "a gorgeous , moving film",
    "Don't   see it!!! it's dull's",
    "Café au lait: ÉCOLE naïve résumé",  # \w is ASCII on the device (RE2): accents split words
    "",
    "unknownword gorgeous\tfilm\nfilm",
    " ".join(["film"] * 20),  # longer than the input: cut after <START> + 7 ids
    "__init__ 3.5 x_y O'Neil",
    "Film GORGEOUS Gorgeous gOrgeous DON'T",  # case variants share their word's id; mixed case does not
]


def identity_model(tokenizer: RegexTokenizer, tmp_path) -> bytes:
    """ids [1, N] -> the same ids as float scores, with the tokenizer in its metadata."""
    import keras

    from solutions.common.edge import model_info
    from solutions.common.export import convert_tflite, export_fixed_batch
    from solutions.common.tflite_metadata import AssociatedFile, TensorInfo, with_metadata

    size = len(tokenizer.vocabulary)
    ids = keras.Input((tokenizer.length,), dtype="int32")
    lookup = keras.layers.Embedding(size, 1)
    model = keras.Model(ids, keras.layers.Flatten()(lookup(ids)))
    lookup.set_weights([np.arange(size, dtype=np.float32).reshape(size, 1)])
    content = convert_tflite(export_fixed_batch(model, tmp_path / "sm", batch=1), "float32")
    positions = AssociatedFile("labels.txt", "".join(f"p{i}\n" for i in range(tokenizer.length)).encode())
    vocabulary = AssociatedFile("vocab.txt", tokenizer.vocabulary_file(), type="VOCABULARY")
    return with_metadata(content, model_info("ids", "", "1", [
        TensorInfo("input_text", "text", regex_tokenizer=(DELIMITER, vocabulary))],
        [TensorInfo("ids", "the ids", files=(positions,))]))


def test_the_python_tokenizer_gives_mediapipes_ids(tmp_path):
    from tests.mediapipe_clients import text_scores

    tokenizer = RegexTokenizer(["<PAD>", "<START>", "<UNKNOWN>", "film", "gorgeous", "Don't", "it's", "dull's",
                                "Caf", "au", "lait", "x_y", "__init__", "3", "O'Neil", "a", "moving", "r", "sum"], 8)
    path = tmp_path / "ids.tflite"
    path.write_bytes(identity_model(tokenizer, tmp_path))
    device = text_scores(path, TEXTS)
    ours = tokenizer(TEXTS)
    np.testing.assert_array_equal(device.astype(np.int32), ours)
    assert list(ours[1][:5]) == [1, 5, 2, 2, 6]  # <START>, Don't, <UNKNOWN> (see, it), it's
    assert list(ours[3]) == [1] + [0] * 7 and list(ours[5]) == [1] + [3] * 7
    assert list(ours[7][:6]) == [1, 3, 4, 4, 2, 5]


def test_a_fitted_vocabulary_file_lists_words_then_their_case_variants():
    tokenizer = RegexTokenizer.fit(["good film", "bad film", "film"])
    assert tokenizer.vocabulary[:4] == ["<PAD>", "<START>", "<UNKNOWN>", "film"]
    lines = tokenizer.vocabulary_file().decode().splitlines()
    assert lines[3] == "film 3" and {"Film 3", "FILM 3", "Good 5", "GOOD 5"} <= set(lines)
    assert len(lines) == 3 * len(tokenizer.vocabulary) - 6
    with pytest.raises(ValueError, match="starts with <PAD>, <START>, <UNKNOWN>"):
        RegexTokenizer(["film"], 4)


def test_a_damaged_or_foreign_edge_file_is_one_clear_error(tmp_path):
    """What `predict --variant edge` reads: a truncated file, or a .tflite without a tokenizer."""
    import keras

    from solutions.common.errors import UserError
    from solutions.common.export import convert_tflite, export_fixed_batch

    tokenizer = RegexTokenizer(["<PAD>", "<START>", "<UNKNOWN>", "film"], 4)
    good = identity_model(tokenizer, tmp_path)
    assert RegexTokenizer.from_tflite(good).vocabulary == tokenizer.vocabulary
    with pytest.raises(UserError, match="not a valid TFLite model"):
        RegexTokenizer.from_tflite(good[: len(good) // 3], "model_edge.tflite")
    ids = keras.Input((4,), dtype="int32")
    plain = convert_tflite(export_fixed_batch(keras.Model(ids, keras.layers.Embedding(5, 1)(ids)), tmp_path / "p",
                                              batch=1), "float32")
    with pytest.raises(UserError, match="model_edge.tflite has no regex tokenizer in its metadata"):
        RegexTokenizer.from_tflite(plain, "model_edge.tflite")
    broken = bytearray(good)
    start = bytes(good).index(b"film 3")
    broken[start:start + 6] = b"film x"  # a vocabulary line whose id is not a number
    with pytest.raises(UserError, match="damaged metadata"):
        RegexTokenizer.from_tflite(bytes(broken), "model_edge.tflite")
