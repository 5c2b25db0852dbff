"""sentiment's edge variant: a model MediaPipe's TextClassifier runs on raw strings.

Task runtimes tokenize on the device with a regex tokenizer described in the model's metadata
(split on a delimiter pattern, look each piece up in a vocabulary file, no lower-casing); the
default model's tokenizer (punctuation kept, bigrams) has no such twin, so the edge variant is a
model of its own: the same naive-Bayes bag model over the words that tokenizer gives, trained on
the same split. `RegexTokenizer` is its plain-Python twin, kept exact to MediaPipe's C++
(RegexPreprocessor: <START> first when the vocabulary has it, <UNKNOWN> for unseen words, <PAD>
after the text, cut to the model's input length).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Sequence

import numpy as np

# MediaPipe Model Maker's pattern; RE2 (the device side) reads \w as ASCII only, so Python must too.
DELIMITER = r"[^\w']+"
PAD, START, UNKNOWN = "<PAD>", "<START>", "<UNKNOWN>"
# The edge model's own training settings (chosen on rt-polarity's validation split: 1e-3 and a
# patience of 5 epochs; the default model's 3e-3 stops a bag of single words too early).
LEARNING_RATE, PATIENCE, MAX_EPOCHS, EMBEDDING_DIM = 1e-3, 5, 60, 32
LENGTH_PERCENTILE = 99


class RegexTokenizer:
    """Texts -> int32 ids [n, length], exactly as MediaPipe's regex tokenizer makes them.

    The runtime does not lower-case, so each word is also listed Capitalized and in UPPER case
    under its own id ("Great" and "GREAT" read as "great" when the training texts never had them):
    `aliases`, written into the vocabulary file after the words themselves."""

    def __init__(self, vocabulary: Sequence[str], length: int, pattern: str = DELIMITER,
                 aliases: dict[str, int] | None = None):
        if list(vocabulary[:3]) != [PAD, START, UNKNOWN]:
            raise ValueError(f"an edge vocabulary starts with {PAD}, {START}, {UNKNOWN}")
        self.vocabulary, self.length, self.pattern = list(vocabulary), int(length), pattern
        self._split = re.compile(pattern, re.ASCII)
        self._index = {token: i for i, token in enumerate(self.vocabulary)}
        if aliases is None:
            aliases = {}
            for i, token in enumerate(self.vocabulary[3:], start=3):
                for variant in (token.lower(), token.capitalize(), token.upper()):
                    if variant not in self._index and variant not in aliases:
                        aliases[variant] = i
        self.aliases = aliases
        self._index.update(aliases)

    @classmethod
    def fit(cls, texts: Sequence[str]) -> "RegexTokenizer":
        """Every word of the training texts (most frequent first); the input length covers the
        99th percentile of their lengths."""
        tokenizer = cls([PAD, START, UNKNOWN], 1)
        counts = Counter(word for text in texts for word in tokenizer.words(text))
        vocabulary = [PAD, START, UNKNOWN] + [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        lengths = [len(tokenizer.words(text)) + 1 for text in texts]
        return cls(vocabulary, max(2, int(np.percentile(lengths, LENGTH_PERCENTILE))))

    def words(self, text: str) -> list[str]:
        return [w for w in self._split.split(text) if w]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.length), np.int32)
        start, unknown = self._index[START], self._index[UNKNOWN]
        for row, text in enumerate(texts):
            ids = [start] + [self._index.get(w, unknown) for w in self.words(text)]
            ids = ids[: self.length]
            out[row, : len(ids)] = ids
        return out

    def vocabulary_file(self) -> bytes:
        """vocab.txt as the regex tokenizer reads it: "<token> <id>" per line, the words in id
        order, then their case variants."""
        lines = [f"{token} {i}\n" for i, token in enumerate(self.vocabulary)]
        lines += [f"{token} {i}\n" for token, i in self.aliases.items()]
        return "".join(lines).encode()

    @classmethod
    def from_tflite(cls, content: bytes, where: str = "the edge model") -> "RegexTokenizer":
        """The tokenizer an edge .tflite describes in its metadata (pattern, vocabulary, length);
        a damaged file, or one without a regex tokenizer, is one UserError naming `where`."""
        from solutions.common.errors import UserError
        from solutions.common.export import TFLiteRunner
        from solutions.common.tflite_metadata import read_metadata

        length = int(TFLiteRunner(content).input["shape"][1])  # a damaged file: UserError here
        try:
            metadata = read_metadata(content) or {"inputs": [{}]}
            tokenizer = metadata["inputs"][0].get("regex_tokenizer")
            if not tokenizer:
                raise UserError(f"{where} has no regex tokenizer in its metadata (not a sentiment edge model); "
                                "re-export the run with `solutions export RUN --format tflite`")
            vocabulary: list[str] = []
            aliases: dict[str, int] = {}
            for line in metadata["files"][tokenizer["vocabulary"][0]].decode().splitlines():
                token, number = line.rsplit(" ", 1)
                if int(number) == len(vocabulary):
                    vocabulary.append(token)
                else:
                    aliases[token] = int(number)
            return cls(vocabulary, length, tokenizer["pattern"], aliases)
        except UserError:
            raise
        except Exception as exc:  # a metadata buffer or vocabulary that does not parse
            raise UserError(f"{where} has damaged metadata ({exc.__class__.__name__}: {str(exc)[:100]}); "
                            "re-export the run with `solutions export RUN --format tflite`") from None


def train_edge_model(solution: Any, splits: Any, options: Any) -> tuple[Any, RegexTokenizer]:
    """The bag model of model.py over `RegexTokenizer` ids, fitted on the run's training split
    with early stopping on its validation split and mixed as the default bow model is."""
    import keras

    from solutions.sentiment.model import build_model, fit_mixing

    tokenizer = RegexTokenizer.fit(splits.train.raw)
    x_train, x_val = tokenizer(splits.train.raw), tokenizer(splits.val.raw)
    keras.utils.set_random_seed(int(options["seed"]))
    prior = np.bincount(splits.train.y, minlength=len(splits.class_names)) / len(splits.train.y)
    model = build_model("bow", vocab_size=len(tokenizer.vocabulary), sequence_length=tokenizer.length,
                        num_classes=len(splits.class_names), embedding_dim=EMBEDDING_DIM, dropout=options["dropout"],
                        train_ids=x_train, train_labels=splits.train.y, class_prior=prior)
    solution.compile(model, keras.optimizers.Adam(LEARNING_RATE))
    print(f"Training the edge model (words split on {DELIMITER!r}, {len(tokenizer.vocabulary)} tokens, "
          f"{tokenizer.length} per text) ...")
    model.fit(x_train, splits.train.y, validation_data=(x_val, splits.val.y), epochs=MAX_EPOCHS,
              batch_size=options["batch_size"], verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)])
    fit_mixing(model, x_val, splits.val.y)
    return model, tokenizer
