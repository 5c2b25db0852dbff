"""sentiment's options: train and predict flags, their checks, the search space."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solutions.common import ranges
from solutions.common.errors import UserError
from solutions.sentiment.data import load_table

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")


MODEL_NAMES = ("bow", "cnn", "bilstm", "transformer")


class SentimentOptions:
    """The flags of `solutions train sentiment` and `predict`, checked before TensorFlow loads."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", choices=self.models, default=self.default_model)
        parser.add_argument("--text-column", default="text", help="text column of a CSV/TSV given with --data")
        parser.add_argument("--label-column", default="label", help="label column of a CSV/TSV (any number of classes)")
        parser.add_argument("--sequence-length", type=ranges.POSITIVE, default=None,
                            help="words kept per text (default: the 99th percentile of the training texts)")
        parser.add_argument("--max-tokens", type=ranges.integer(3), default=None,
                            help="vocabulary size (default: 300000 n-grams for bow, 20000 words otherwise)")
        parser.add_argument("--embedding-dim", type=ranges.POSITIVE, default=None, help="default: 32 for bow, 64 otherwise")
        parser.add_argument("--width", type=ranges.POSITIVE, default=100, help="filters (cnn) or LSTM units (bilstm, both directions)")
        parser.add_argument("--depth", type=ranges.POSITIVE, default=1, help="LSTM layers (bilstm) or encoder blocks (transformer)")
        parser.add_argument("--dropout", type=ranges.DROPOUT, default=0.5)
        parser.add_argument("--char-ngrams", action=argparse.BooleanOptionalAction, default=None,
                            help="bow: a second view of 2-5-character n-grams (default: on when the texts are "
                                 "short, as sentences are)")
        parser.add_argument("--cv", type=ranges.integer(2), default=None, metavar="K",
                            help="K-fold cross-validation: report the mean and spread of K test folds")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--file", default=None, help="a text file with one text per line to answer for")

    def search_space(self, hp, options: dict[str, Any]) -> dict[str, Any]:
        """Embedding size, width, depth and dropout of the model chosen with --model."""
        from solutions.common.search_space import optimisation

        values = {"embedding_dim": hp.Choice("embedding_dim", [16, 32, 64, 128]),
                  "dropout": hp.Float("dropout", 0.0, 0.6, step=0.1)}
        if options.get("model", "bow") != "bow":
            values["width"] = hp.Choice("width", [32, 64, 100, 128])
            values["depth"] = hp.Int("depth", 1, 2)
        return {**values, **optimisation(hp, lr=(3e-4, 1e-2), batches=[32, 64, 128])}

    def model_settings(self, options: dict[str, Any]) -> dict[str, Any]:
        from solutions.sentiment.model import MODEL_DEFAULTS

        defaults = MODEL_DEFAULTS[options.get("model") or self.default_model]
        return {
            "ngrams": defaults["ngrams"],
            "max_tokens": options.get("max_tokens") or defaults["max_tokens"],
            "embedding_dim": options.get("embedding_dim") or defaults["embedding_dim"],
            "char_ngrams": defaults.get("char_ngrams"),
        }

    def check_data_source(self, options: dict[str, Any]) -> None:
        if options.get("data"):
            path = Path(options["data"]).expanduser()
            if not path.exists():
                raise UserError(f"{path} does not exist")
            if path.is_file():
                if path.suffix.lower() not in TABLE_SUFFIXES:
                    raise UserError(f"{path}: give a .csv or .tsv file with a header row, or a folder of class sub-folders")
                load_table(path, options.get("text_column", "text"), options.get("label_column", "label"))
        elif options["dataset"] not in {d.name for d in self.datasets}:
            known = ", ".join(d.name for d in self.datasets)
            raise UserError(f"unknown dataset {options['dataset']!r} for sentiment; known: {known}, or --data FILE|FOLDER")
        cv = options.get("cv")
        if cv is not None and cv < 2:
            raise UserError(f"--cv {cv}: cross-validation needs at least 2 folds")
        length = options.get("sequence_length")
        if length is not None and not 2 <= length <= 4096:
            raise UserError(f"--sequence-length {length} is out of range (2..4096)")
        if options.get("max_tokens") is not None and options["max_tokens"] < 3:
            raise UserError("--max-tokens must be at least 3 (padding, out-of-vocabulary and one token)")
        if options.get("char_ngrams") and (options.get("model") or self.default_model) != "bow":
            raise UserError(f"--char-ngrams is a view of the bow model, not of {options['model']}")
