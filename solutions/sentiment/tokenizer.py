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

With character n-grams on (`char_ngrams`, the bow model's second view), a second segment follows
the words: the standardized tokens joined by single spaces, every run of 2..5 characters (all
2-grams, then all 3-grams, ... as `tf.strings.ngrams` orders them), looked up in a vocabulary of
their own (`char_vocab.txt`, same 0/1 rule), cut or padded to `char_sequence_length`. The ids are
the word segment then the character segment, one int32 row per text.
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
    char_ngrams: list[int] | None = None  # [shortest, longest] character n-gram, or None (words only)
    char_sequence_length: int = 0

    @property
    def total_length(self) -> int:
        """Ids per text: the word segment, then the character segment (if any)."""
        return self.sequence_length + (self.char_sequence_length if self.char_ngrams else 0)


EXAMPLE_TEXT = "Don't miss it: a GREAT, great film (9/10)!"


def rules(config: TokenizerConfig) -> dict[str, str]:
    """The steps in words, exact enough to reimplement them without the kit (tokenizer.json)."""
    steps = {
        "1_lowercase": "ASCII letters A-Z only become a-z; every other character stays as it is",
        "2_punctuation": f"each of these characters gets one space before and after it: {PUNCTUATION} "
                         "(the apostrophe is not among them: \"don't\" stays one token)",
        "3_split": "split on runs of ASCII whitespace (space, \\t, \\n, \\v, \\f, \\r), empty tokens "
                   "dropped; other Unicode spaces stay inside tokens",
        "4_word_ngrams": (f"the tokens, then for n = 2..{config.ngrams} every n neighbouring tokens joined "
                          "by one space, all of one n (in text order) before the next" if config.ngrams > 1
                          else "the tokens only (ngrams 1)"),
        "5_lookup": "line i of vocab.txt is id i; a token not in it is 1 (out of vocabulary); 0 is padding",
        "6_length": f"the word ids are cut, or zero-padded at the end, to {config.sequence_length}",
    }
    if config.char_ngrams:
        shortest, longest = config.char_ngrams
        steps["7_char_ngrams"] = (
            f"from the tokens of step 3 joined by single spaces (not the raw text), every run of {shortest} "
            f"to {longest} Unicode code points, all of one length (in text order) before the next; looked "
            f"up in char_vocab.txt by the same rule, cut or zero-padded to {config.char_sequence_length}")
        steps["8_row"] = "one int32 row per text: the word ids, then the character ids"
    steps["reference"] = ("solutions/sentiment/tokenizer.py (Tokenizer) in keras-solutions-kit; `example` "
                          "below is one text through these steps with this run's vocabulary")
    return steps


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


def joined(text: str) -> str:
    """The standardized tokens joined by single spaces: what character n-grams are taken from."""
    return " ".join(split(standardize(text)))


def char_grams(text: str, shortest: int, longest: int) -> list[str]:
    """Every `shortest`..`longest` characters of `joined(text)`, all of one length before the next."""
    chars = joined(text)
    return [chars[i : i + n] for n in range(shortest, longest + 1) for i in range(len(chars) - n + 1)]


def _look_up(tokens: list[str], index: dict[str, int], length: int, config: "TokenizerConfig") -> list[int]:
    ids = [index.get(token, config.oov_id) for token in tokens[:length]]
    return ids + [config.padding_id] * (length - len(ids))


def _index(vocabulary: Sequence[str] | None, what: str) -> dict[str, int]:
    if vocabulary is None:
        return {}
    if list(vocabulary[:2]) != [PAD, OOV]:
        raise ValueError(f"a {what} starts with the padding token '' and the OOV token '[UNK]'")
    return {token: i for i, token in enumerate(vocabulary) if i >= 2}


class Tokenizer:
    """Plain-Python twin of the run's vocabulary layer: texts -> int32 ids [n, total_length]."""

    def __init__(self, vocabulary: Sequence[str], config: TokenizerConfig, char_vocabulary: Sequence[str] | None = None):
        if config.char_ngrams and char_vocabulary is None:
            raise ValueError("character n-grams need their vocabulary (char_vocab.txt)")
        self.vocabulary = list(vocabulary)
        self.char_vocabulary = list(char_vocabulary) if config.char_ngrams else None
        self.config = config
        self._index = _index(self.vocabulary, "vocabulary")
        self._char_index = _index(self.char_vocabulary, "character vocabulary")

    def ids(self, text: str) -> list[int]:
        words = grams(split(standardize(text)), self.config.ngrams)
        ids = _look_up(words, self._index, self.config.sequence_length, self.config)
        if self.config.char_ngrams:
            chars = char_grams(text, *self.config.char_ngrams)
            ids += _look_up(chars, self._char_index, self.config.char_sequence_length, self.config)
        return ids

    def __call__(self, texts: Iterable[str]):
        import numpy as np

        rows = [self.ids(t) for t in texts]
        return np.asarray(rows, dtype=np.int32).reshape(len(rows), self.config.total_length)

    def keras_layer(self):
        """The Keras vocabulary layer with this vocabulary and these settings (its exact twin)."""
        words = vectorization_layer(self.config.sequence_length, ngrams=self.config.ngrams, vocabulary=self.vocabulary)
        if not self.config.char_ngrams:
            return words
        chars = char_vectorization_layer(self.config.char_sequence_length, self.config.char_ngrams,
                                         vocabulary=self.char_vocabulary)
        return TextIds(words, chars)

    def save(self, directory: Path) -> None:
        """vocab.txt (one token per line, line i = id i), char_vocab.txt likewise, tokenizer.json."""
        files = {"vocab.txt": self.vocabulary}
        if self.char_vocabulary is not None:
            files["char_vocab.txt"] = self.char_vocabulary
        for name, vocabulary in files.items():
            bad = [t for t in vocabulary[2:] if "\n" in t or "\r" in t]
            if bad:
                raise ValueError(f"vocabulary tokens contain line breaks: {bad[:3]}")
        for name, vocabulary in files.items():
            write_text_atomic(directory / name, "\n".join(vocabulary) + "\n")
        record = {**asdict(self.config), "rules": rules(self.config), "example": self.example(EXAMPLE_TEXT)}
        write_text_atomic(directory / "tokenizer.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    def example(self, text: str, shown: int = 24) -> dict:
        """One text through every step, with its first ids: a test vector for a client's own
        implementation (an app feeding the TFLite model, which takes ids)."""
        tokens = split(standardize(text))
        ids = self.ids(text)
        out = {"text": text, "standardized": standardize(text), "tokens": tokens,
               "word_grams": grams(tokens, self.config.ngrams)[:shown],
               "word_ids_first": ids[: min(shown, self.config.sequence_length)]}
        if self.config.char_ngrams:
            out["joined_for_char_ngrams"] = joined(text)
            out["char_grams_first"] = char_grams(text, *self.config.char_ngrams)[:shown]
            out["char_ids_first"] = ids[self.config.sequence_length:][:shown]
        return out

    @classmethod
    def load(cls, directory: Path) -> "Tokenizer":
        """The tokenizer saved in `directory`; a missing, damaged or mismatched file is one
        UserError that names it (they travel together: vocab.txt, char_vocab.txt, tokenizer.json)."""
        from solutions.common.errors import UserError

        def lines(name: str) -> list[str]:
            try:
                return (Path(directory) / name).read_text(encoding="utf-8").split("\n")[:-1]
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"{Path(directory) / name} cannot be read ({exc.__class__.__name__}); the "
                                "tokenizer needs vocab.txt, tokenizer.json and, with character n-grams, "
                                "char_vocab.txt from the same run") from None

        try:
            record = json.loads("\n".join(lines("tokenizer.json")))
            if isinstance(record, dict):  # the rules and the example are for people and other clients
                record = {k: v for k, v in record.items() if k not in ("rules", "example")}
            config = TokenizerConfig(**record)
            return cls(lines("vocab.txt"), config, lines("char_vocab.txt") if config.char_ngrams else None)
        except (ValueError, TypeError) as exc:  # bad JSON, unknown keys, a vocabulary without '' and [UNK]
            raise UserError(f"{Path(directory) / 'tokenizer.json'} and its vocabularies do not make a "
                            f"tokenizer: {exc}") from None


def tf_standardize(texts):
    """`standardize` in TensorFlow string ops (traced into the SavedModel)."""
    import tensorflow as tf

    return tf.strings.regex_replace(tf.strings.lower(texts), PUNCTUATION_PATTERN, r" \1 ")


def tf_joined(texts):
    """`joined` in TensorFlow string ops: standardize, split on whitespace, join with one space."""
    import tensorflow as tf

    return tf.strings.reduce_join(tf.strings.split(tf_standardize(texts)), axis=-1, separator=" ")


def char_gram_splitter(shortest: int, longest: int):
    """`char_grams` after `tf_joined`, as a TextVectorization split: characters (UTF-8 code
    points, as Python iterates a str), then their n-grams joined without a separator."""

    def split_chars(texts):
        import tensorflow as tf

        chars = tf.strings.unicode_split(texts, "UTF-8")
        return tf.strings.ngrams(chars, tuple(range(shortest, longest + 1)), separator="")

    return split_chars


def char_vectorization_layer(sequence_length: int, char_ngrams: Sequence[int], *, max_tokens: int | None = None,
                             vocabulary: Sequence[str] | None = None):
    """The character-n-gram vocabulary layer (the second segment of the ids)."""
    import keras

    return keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=tf_joined, split=char_gram_splitter(*char_ngrams), ngrams=None,
        output_mode="int", output_sequence_length=sequence_length,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )


class TextIds:
    """Raw strings -> the word segment's ids, then the character segment's: two vocabulary layers
    called as one (on a list of texts, a tensor, or a Keras input of a string model)."""

    def __init__(self, words, chars):
        self.words, self.chars = words, chars

    def __call__(self, texts):
        import keras

        return keras.ops.concatenate([self.words(texts), self.chars(texts)], axis=-1)


def vectorization_layer(sequence_length: int, *, ngrams: int = 1, max_tokens: int | None = None, vocabulary: Sequence[str] | None = None):
    """The Keras vocabulary layer; adapt it on training texts, or give it a saved vocabulary."""
    import keras

    return keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=tf_standardize, split="whitespace",
        ngrams=ngrams if ngrams > 1 else None, output_mode="int", output_sequence_length=sequence_length,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )
