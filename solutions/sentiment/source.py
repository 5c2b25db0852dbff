"""sentiment's data source: labelled texts -> splits of token ids, with the vocabulary fitted on
the training texts only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.errors import UserError
from solutions.sentiment.data import (
    TFDS_TEXT,
    TextData,
    load_folder,
    load_rt_polarity,
    load_table,
    load_tfds_text,
)
from solutions.sentiment.tokenizer import Tokenizer, TokenizerConfig, char_grams, split, standardize

# Character n-grams stay off for long texts (reviews, documents): their segment would be several
# times the words' and they add little where words are plentiful (README, Sentiment).
MAX_CHAR_SEQUENCE = 2048


def vectorize(layer, texts: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Texts -> int32 ids with the Keras vocabulary layer (in chunks: IMDB is 50k long reviews)."""
    return np.concatenate([np.asarray(layer(list(texts[i : i + batch]))) for i in range(0, len(texts), batch)]).astype(np.int32)


def check_rare_classes(labels: np.ndarray, names: list[str], least: int, purpose: str) -> None:
    """Refuse classes with fewer than `least` texts by name (the split's own check knows only indices)."""
    counts = np.bincount(labels, minlength=len(names))
    rare = [f"{names[c]!r} ({n})" for c, n in enumerate(counts) if 0 < n < least]
    if rare:
        raise UserError(f"class(es) {', '.join(rare)} have fewer than {least} texts: too few {purpose}")


class TextSource:
    """Texts from a CSV/TSV, a folder per class, rt-polarity or TFDS, as token-id splits."""

    def read_source(self, options: dict[str, Any]) -> tuple[dict[str, TextData], str, list]:
        """The data's labelled parts (just "all" when it has no split of its own), its name, its files."""
        if options.get("data"):
            path = Path(options["data"]).expanduser().resolve()
            if path.is_dir():
                parts = load_folder(path)
                return parts, f"folder:{path}", [f for part in parts.values() for f in part.files]
            data = load_table(path, options.get("text_column", "text"), options.get("label_column", "label"))
            return {"all": data}, f"file:{path}", data.files
        name = options["dataset"]
        if name == "rt-polarity":
            data = load_rt_polarity(options.get("data_dir"))
            return {"all": data}, name, data.files
        return load_tfds_text(name, options.get("data_dir")), f"tfds:{TFDS_TEXT[name][0]}", []

    def load_splits(self, options: dict[str, Any]):
        from solutions.common.catalogue import fingerprint_files, fingerprint_layout, fingerprint_texts
        from solutions.common.data import (
            Split,
            Splits,
            given_splits,
            kfold_split,
            stratified_split,
        )

        parts, name, files = self.read_source(options)
        first = next(iter(parts.values()))
        seed, val_fraction = options["seed"], options["val_split"]
        texts = np.asarray([t for p in parts.values() for t in p.texts], dtype=object)
        labels = np.concatenate([p.labels for p in parts.values()])
        if options.get("cv"):
            check_rare_classes(labels, first.class_names, options["cv"], f"for --cv {options['cv']} folds")
            fold = int(options.get("fold") or 1)
            tr, va, te = kfold_split(labels, folds=options["cv"], fold=fold, val_fraction=val_fraction, seed=seed)
            rule = f"{options['cv']}-fold stratified CV, fold {fold} is the test; validation {val_fraction:.0%} of the rest, seed {seed}"
            train, val, test = (Split(texts[i], labels[i]) for i in (tr, va, te))
        elif "train" in parts:  # a folder or library split into train/ [validation/] [test/]: kept as given
            given = {key: parts[part] for key, part in (("train", "train"), ("val", "validation"), ("test", "test"))
                     if part in parts}
            folder = name.startswith("folder:")  # a library's splits (sst2's 872 validation texts) stay as published
            train, val, test, rule = given_splits(
                {key: Split(np.asarray(part.texts, dtype=object), part.labels) for key, part in given.items()},
                val_fraction=val_fraction, test_fraction=options["test_split"], seed=seed,
                unit="folder" if folder else "split", merge_tiny_validation=folder)
        else:
            check_rare_classes(labels, first.class_names, 3, "to split into train/val/test")
            train, val, test = stratified_split(texts, labels, val_fraction=val_fraction,
                                                test_fraction=options["test_split"], seed=seed,
                                                class_names=first.class_names)
            rule = (f"stratified {1 - val_fraction - options['test_split']:.0%}/{val_fraction:.0%}/"
                    f"{options['test_split']:.0%}, seed {seed}")
        limit = options.get("sequence_length") or self.sequence_length(train.x)
        tokenizer, layer = self.vocabulary(options, train.x, limit)
        for part in (train, val, test):
            part.raw = part.x
            part.x = vectorize(layer, part.raw)
        skipped = dict(sum((p.skipped for p in parts.values()), Counter()))
        repairs = dict(sum((p.repairs for p in parts.values()), Counter()))
        notes = [note for p in parts.values() for note in p.notes]
        source = {
            "name": name,
            "fingerprint": fingerprint_files(files) if files else fingerprint_texts(texts, labels),
            **({"layout": fingerprint_layout(files, Path(name.removeprefix("folder:")))} if name.startswith("folder:") else {}),
            "split": rule,
            "skipped": skipped,
            "skipped_unit": "text(s)",
            **({"repairs": repairs} if repairs else {}),  # none: the report says nothing, as before
            **({"notes": notes} if notes else {}),
            "read_as_latin1": int(sum(p.read_as_latin1 for p in parts.values())),
            "texts_read": int(len(labels)),
            "sequence_length": limit,
            "vocabulary_size": len(tokenizer.vocabulary),
            "char_ngrams": tokenizer.config.char_ngrams,
            "char_vocabulary_size": len(tokenizer.char_vocabulary) if tokenizer.char_vocabulary else 0,
            "train_texts_truncated": int(sum(len(split(standardize(t))) > limit for t in train.raw)),
        }
        resolved = {} if options.get("sequence_length") else {"sequence_length": limit}
        if options.get("char_ngrams") is None and self.model_settings(options).get("char_ngrams"):
            resolved["char_ngrams"] = bool(tokenizer.config.char_ngrams)
        return Splits(train, val, test, first.class_names, source=source, fitted={"tokenizer": tokenizer, "layer": layer},
                      resolved=resolved)

    @staticmethod
    def sequence_length(train_texts: np.ndarray) -> int:
        """Words kept per text when --sequence-length is not given: the 99th percentile of this
        training split's lengths, rounded up to 8 (each --cv fold computes its own)."""
        counts = np.array([len(split(standardize(t))) for t in train_texts])
        return int(np.clip(np.ceil(np.percentile(counts, 99) / 8) * 8, 8, 512))

    @staticmethod
    def char_sequence_length(train_texts: np.ndarray, words: int, char_ngrams: list[int]) -> int:
        """Character n-grams kept per text: the 99th percentile of this training split's counts
        over the first `words` words, rounded up to 8."""
        counts = np.array([len(char_grams(" ".join(split(standardize(t))[:words]), *char_ngrams)) for t in train_texts])
        return int(max(8, np.ceil(np.percentile(counts, 99) / 8) * 8))

    def char_view(self, options: dict[str, Any], train_texts: np.ndarray, words: int) -> tuple[list[int] | None, int]:
        """([shortest, longest], segment length) of the character n-grams, or (None, 0): on by
        default for the bow model on short texts, `--char-ngrams/--no-char-ngrams` decides."""
        ngrams = self.model_settings(options).get("char_ngrams")
        if not ngrams or options.get("char_ngrams") is False:
            return None, 0
        length = self.char_sequence_length(train_texts, words, ngrams)
        if options.get("char_ngrams") is None and length > MAX_CHAR_SEQUENCE:
            print(f"Character n-grams off: the texts are long ({length} {ngrams[0]}-{ngrams[1]}-character n-grams "
                  f"at the 99th percentile, over {MAX_CHAR_SEQUENCE}); --char-ngrams turns them on")
            return None, 0
        return ngrams, min(length, 4 * MAX_CHAR_SEQUENCE)

    def vocabulary(self, options: dict[str, Any], train_texts: np.ndarray, length: int):
        """The run's vocabulary (evaluate/export) or one adapted on the training texts only."""
        from solutions.common.runtime import import_tensorflow
        from solutions.sentiment.tokenizer import char_vectorization_layer, vectorization_layer

        settings = self.model_settings(options)
        if options.get("trained_run"):  # evaluate/export: the run's own vocabulary
            tokenizer = Tokenizer.load(Path(options["trained_run"]))
            return tokenizer, tokenizer.keras_layer()
        char_ngrams, char_length = self.char_view(options, train_texts, length)
        config = TokenizerConfig(sequence_length=length * settings["ngrams"], ngrams=settings["ngrams"],
                                 char_ngrams=char_ngrams, char_sequence_length=char_length)
        tf = import_tensorflow()
        texts = tf.data.Dataset.from_tensor_slices(list(train_texts)).batch(1024)
        layer = vectorization_layer(config.sequence_length, ngrams=config.ngrams, max_tokens=settings["max_tokens"])
        layer.adapt(texts)
        chars = None
        if char_ngrams:
            char_layer = char_vectorization_layer(char_length, char_ngrams, max_tokens=settings["max_tokens"])
            char_layer.adapt(texts)
            chars = [str(t) for t in char_layer.get_vocabulary()]
        tokenizer = Tokenizer([str(t) for t in layer.get_vocabulary()], config, chars)
        return tokenizer, tokenizer.keras_layer() if char_ngrams else layer
