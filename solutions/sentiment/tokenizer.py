"""The text -> token-id rule, twice: as the Keras `TextVectorization` layer the SavedModel carries,
and in plain Python for devices that run the TFLite model (no string ops exist in TFLite builtins).

Both follow the same three steps, chosen so that each has an exact twin in the other:
- standardize: ASCII-only lower-casing (what `tf.strings.lower` does without an encoding), and
  spaces put around ASCII punctuation so that "great!" gives "great" and "!" (the apostrophe stays
  inside words: "don't", "n't", "'s");
- split on ASCII whitespace (space, \\t, \\n, \\v, \\f, \\r), as `tf.strings.split` does; other
  Unicode spaces stay inside tokens in both;
- n-grams (bag models only): the tokens, then every pair of neighbours joined by a space, as
  `tf.strings.ngrams` orders them;
- look up: 0 is padding, 1 is out-of-vocabulary, the vocabulary starts at 2; sequences are cut or
  zero-padded at the end to a fixed length.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from solutions.common.files import write_text_atomic

PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~"
# One character class for both engines (RE2 in TensorFlow, `re` in Python).
PUNCTUATION_PATTERN = r"([!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~])"
PAD, OOV = "", "[UNK]"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_WHITESPACE = re.compile(r"[ \t\n\x0b\x0c\r]+")
_PUNCT = re.compile(PUNCTUATION_PATTERN)


@dataclass(frozen=True)
class TokenizerConfig:
    """What tokenizer.json records beside the vocabulary file."""

    sequence_length: int
    ngrams: int = 1
    standardize: str = "ascii_lower_split_punctuation"
    split: str = "ascii_whitespace"
    padding_id: int = 0
    oov_id: int = 1


def standardize(text: str) -> str:
    return _PUNCT.sub(r" \1 ", text.translate(_ASCII_LOWER))


def split(text: str) -> list[str]:
    return [token for token in _WHITESPACE.split(text) if token]


def grams(tokens: list[str], ngrams: int) -> list[str]:
    """Tokens, then bigrams, ... up to `ngrams` words, each n-gram joined by single spaces."""
    out = list(tokens)
    for n in range(2, ngrams + 1):
        out += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return out


class Tokenizer:
    """Plain-Python twin of the run's vocabulary layer: texts -> int32 ids [n, sequence_length]."""

    def __init__(self, vocabulary: Sequence[str], config: TokenizerConfig):
        if list(vocabulary[:2]) != [PAD, OOV]:
            raise ValueError("a vocabulary starts with the padding token '' and the OOV token '[UNK]'")
        self.vocabulary = list(vocabulary)
        self.config = config
        self._index = {token: i for i, token in enumerate(self.vocabulary) if i >= 2}

    def ids(self, text: str) -> list[int]:
        tokens = grams(split(standardize(text)), self.config.ngrams)[: self.config.sequence_length]
        ids = [self._index.get(token, self.config.oov_id) for token in tokens]
        return ids + [self.config.padding_id] * (self.config.sequence_length - len(ids))

    def __call__(self, texts: Iterable[str]):
        import numpy as np

        rows = [self.ids(t) for t in texts]
        return np.asarray(rows, dtype=np.int32).reshape(len(rows), self.config.sequence_length)

    def keras_layer(self):
        """The Keras vocabulary layer with this vocabulary and these settings (its exact twin)."""
        return vectorization_layer(self.config.sequence_length, ngrams=self.config.ngrams, vocabulary=self.vocabulary)

    def save(self, directory: Path) -> None:
        """vocab.txt (one token per line, line i = id i) and tokenizer.json."""
        bad = [t for t in self.vocabulary[2:] if "\n" in t or "\r" in t]
        if bad:
            raise ValueError(f"vocabulary tokens contain line breaks: {bad[:3]}")
        write_text_atomic(directory / "vocab.txt", "\n".join(self.vocabulary) + "\n")
        write_text_atomic(directory / "tokenizer.json", json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> "Tokenizer":
        lines = (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
        return cls(lines, TokenizerConfig(**json.loads((directory / "tokenizer.json").read_text())))


def tf_standardize(texts):
    """`standardize` in TensorFlow string ops (traced into the SavedModel)."""
    import tensorflow as tf

    return tf.strings.regex_replace(tf.strings.lower(texts), PUNCTUATION_PATTERN, r" \1 ")


def vectorization_layer(sequence_length: int, *, ngrams: int = 1, max_tokens: int | None = None, vocabulary: Sequence[str] | None = None):
    """The Keras vocabulary layer; adapt it on training texts, or give it a saved vocabulary."""
    import keras

    return keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=tf_standardize, split="whitespace",
        ngrams=ngrams if ngrams > 1 else None, output_mode="int", output_sequence_length=sequence_length,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )
