"""`sentiment`: the polarity (or star rating) of a text, shipped as a SavedModel that takes raw
strings and a TFLite model on int32 token ids with a plain-Python tokenizer beside it.

What is the domain's own: text sources (data.py), the tokenizer and its Keras twin (tokenizer.py),
the four token-id models (model.py) and the export that puts the vocabulary inside the SavedModel
but outside the TFLite graph (string ops would need the Flex delegate). Training, K-fold
cross-validation, metrics, export checks and the report are the shared classifier layer.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common import ranges
from solutions.common.classifier import ClassifierSolution, run_labels
from solutions.common.errors import UserError
from solutions.common.rundir import Run
from solutions.common.solution import DatasetInfo, register
from solutions.sentiment.data import TFDS_TEXT, TextData, load_folder, load_rt_polarity, load_table, load_tfds_text
from solutions.sentiment.tokenizer import Tokenizer, TokenizerConfig, split, standardize

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
MODEL_NAMES = ("bow", "cnn", "bilstm", "transformer")


@register
class Sentiment(ClassifierSolution):
    name = "sentiment"
    summary = "polarity of a text: raw strings in (SavedModel), token ids in (TFLite, builtin ops)"
    default_dataset = "rt-polarity"
    datasets = (
        DatasetInfo("rt-polarity", "Movie Review sentence polarity v1.0, 10,662 sentences (rt-polaritydata/)"),
        DatasetInfo("imdb", "IMDB reviews, 25k/25k (TFDS imdb_reviews)"),
        DatasetInfo("sst2", "Stanford Sentiment Treebank, binary (TFDS glue/sst2; its validation split is the test)"),
    )
    models = MODEL_NAMES
    default_model = "bow"  # best measured on rt-polarity (README): NB-initialised bag of n-grams
    layers_module = "solutions.sentiment.model"
    # 10% validation: it only stops training and fits two mixing weights; the rest trains
    train_defaults = {"epochs": 15, "patience": 3, "batch_size": 64, "learning_rate": 3e-3, "val_split": 0.1}

    # --- options -----------------------------------------------------------------------------
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
        }

    # --- data --------------------------------------------------------------------------------
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

    def read_source(self, options: dict[str, Any]) -> tuple[dict[str, TextData], str, list]:
        """The data's labelled parts (just "all" when it has no split of its own), its name, its files."""
        if options.get("data"):
            path = Path(options["data"]).expanduser().resolve()
            if path.is_dir():
                data = load_folder(path)
                return {"all": data}, f"folder:{path}", data.files
            data = load_table(path, options.get("text_column", "text"), options.get("label_column", "label"))
            return {"all": data}, f"file:{path}", data.files
        name = options["dataset"]
        if name == "rt-polarity":
            data = load_rt_polarity(options.get("data_dir"))
            return {"all": data}, name, data.files
        return load_tfds_text(name, options.get("data_dir")), f"tfds:{TFDS_TEXT[name][0]}", []

    def load_splits(self, options: dict[str, Any]):
        from solutions.common.catalogue import fingerprint_files, fingerprint_texts
        from solutions.common.data import Split, Splits, kfold_split, split_off_validation, stratified_split

        parts, name, files = self.read_source(options)
        first = next(iter(parts.values()))
        seed, val_fraction = options["seed"], options["val_split"]
        texts = np.asarray([t for p in parts.values() for t in p.texts], dtype=object)
        labels = np.concatenate([p.labels for p in parts.values()])
        if options.get("cv"):
            fold = int(options.get("fold") or 1)
            tr, va, te = kfold_split(labels, folds=options["cv"], fold=fold, val_fraction=val_fraction, seed=seed)
            rule = f"{options['cv']}-fold stratified CV, fold {fold} is the test; validation {val_fraction:.0%} of the rest, seed {seed}"
            train, val, test = (Split(texts[i], labels[i]) for i in (tr, va, te))
        elif "train" in parts and ("test" in parts or "validation" in parts):
            test_part = "test" if "test" in parts else "validation"
            train = Split(np.asarray(parts["train"].texts, dtype=object), parts["train"].labels)
            test = Split(np.asarray(parts[test_part].texts, dtype=object), parts[test_part].labels)
            if "validation" in parts and test_part == "test":
                val = Split(np.asarray(parts["validation"].texts, dtype=object), parts["validation"].labels)
                rule = "publisher's train/validation/test"
            else:
                train, val = split_off_validation(train, val_fraction=val_fraction, seed=seed)
                rule = f"publisher's train and {test_part} (as the test); validation {val_fraction:.0%} of train, seed {seed}"
        else:
            train, val, test = stratified_split(texts, labels, val_fraction=val_fraction,
                                                test_fraction=options["test_split"], seed=seed)
            rule = (f"stratified {1 - val_fraction - options['test_split']:.0%}/{val_fraction:.0%}/"
                    f"{options['test_split']:.0%}, seed {seed}")
        limit = options.get("sequence_length") or self.sequence_length(train.x)
        tokenizer, layer = self.vocabulary(options, train.x, limit)
        for part in (train, val, test):
            part.raw = part.x
            part.x = vectorize(layer, part.raw)
        skipped = dict(sum((p.skipped for p in parts.values()), Counter()))
        source = {
            "name": name,
            "fingerprint": fingerprint_files(files) if files else fingerprint_texts(texts, labels),
            "split": rule,
            "skipped": skipped,
            "skipped_unit": "text(s)",
            "read_as_latin1": int(sum(p.read_as_latin1 for p in parts.values())),
            "texts_read": int(len(labels)),
            "sequence_length": limit,
            "vocabulary_size": len(tokenizer.vocabulary),
            "train_texts_truncated": int(sum(len(split(standardize(t))) > limit for t in train.raw)),
        }
        return Splits(train, val, test, first.class_names, source=source, fitted={"tokenizer": tokenizer, "layer": layer},
                      resolved={"sequence_length": limit} if not options.get("sequence_length") else {})

    @staticmethod
    def sequence_length(train_texts: np.ndarray) -> int:
        """Words kept per text when --sequence-length is not given: the 99th percentile of this
        training split's lengths, rounded up to 8 (each --cv fold computes its own)."""
        counts = np.array([len(split(standardize(t))) for t in train_texts])
        return int(np.clip(np.ceil(np.percentile(counts, 99) / 8) * 8, 8, 512))

    def vocabulary(self, options: dict[str, Any], train_texts: np.ndarray, length: int):
        """The run's vocabulary (evaluate/export) or one adapted on the training texts only."""
        from solutions.common.runtime import import_tensorflow
        from solutions.sentiment.tokenizer import vectorization_layer

        settings = self.model_settings(options)
        if options.get("vocabulary_dir"):
            tokenizer = Tokenizer.load(Path(options["vocabulary_dir"]))
            return tokenizer, tokenizer.keras_layer()
        config = TokenizerConfig(sequence_length=length * settings["ngrams"], ngrams=settings["ngrams"])
        layer = vectorization_layer(config.sequence_length, ngrams=config.ngrams, max_tokens=settings["max_tokens"])
        tf = import_tensorflow()
        layer.adapt(tf.data.Dataset.from_tensor_slices(list(train_texts)).batch(1024))
        tokenizer = Tokenizer([str(t) for t in layer.get_vocabulary()], config)
        return tokenizer, layer

    def pinned_options(self, run: Run) -> dict[str, Any]:
        return {"vocabulary_dir": str(run.path), "sequence_length": run.config["source"]["sequence_length"]}

    # --- model -------------------------------------------------------------------------------
    def build_model(self, options: dict[str, Any], splits):
        from solutions.sentiment.model import build_model

        settings = self.model_settings(options)
        prior = np.bincount(splits.train.y, minlength=len(splits.class_names)) / len(splits.train.y)
        return build_model(
            options["model"], vocab_size=len(splits.fitted["tokenizer"].vocabulary),
            sequence_length=splits.train.x.shape[1], num_classes=len(splits.class_names),
            embedding_dim=settings["embedding_dim"], width=options["width"], depth=options["depth"],
            dropout=options["dropout"], train_ids=splits.train.x, train_labels=splits.train.y, class_prior=prior,
        )

    def finalize_model(self, model, splits, options):
        """bow: mix naive Bayes and the trained discriminative part on the validation split."""
        if options["model"] == "bow":
            from solutions.sentiment.model import fit_mixing

            mixing = fit_mixing(model, splits.val.x, splits.val.y)
            print(f"Mixing weights (validation log-loss {mixing['val_log_loss_discriminative_only']:.4f} -> "
                  f"{mixing['val_log_loss_mixed']:.4f}): naive Bayes {mixing['naive_bayes']:.3f}, "
                  f"discriminative {mixing['discriminative']:.3f}")
            return model, {"mixing": mixing}
        return model, {}

    def training_datasets(self, splits, options: dict[str, Any]):
        from solutions.common.pipeline import make_dataset

        train = make_dataset(splits.train.x, splits.train.y, batch_size=options["batch_size"], training=True,
                             seed=options["seed"], cast=None)
        val = make_dataset(splits.val.x, splits.val.y, batch_size=options["batch_size"], cast=None)
        return train, val

    def model_inputs(self, split) -> np.ndarray:
        return split.x.astype(np.int32)

    def serving_inputs(self, split) -> np.ndarray:
        return split.raw

    def representative_samples(self, splits) -> np.ndarray:
        return splits.train.x[:300].astype(np.int32)

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        """Majority class, and TF-IDF uni+bigram logistic regression on the same tokens and split
        (the classical reference: 0.780 on rt-polarity in 10-fold CV)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from solutions.common.metrics import classification_metrics
        from solutions.sentiment.tokenizer import grams

        def analyzer(text: str) -> list[str]:
            return grams(split(standardize(text)), 2)

        vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True)
        features = vectorizer.fit_transform(splits.train.raw)
        classifier = LogisticRegression(C=10.0, max_iter=2000).fit(features, splits.train.y)
        probs = np.zeros((len(splits.test), len(splits.class_names)))
        probs[:, classifier.classes_] = classifier.predict_proba(vectorizer.transform(splits.test.raw))
        return {**super().baselines(splits), "tfidf_logistic_regression": classification_metrics(splits.test.y, probs)}

    # --- export ------------------------------------------------------------------------------
    def export_saved_model(self, model, path: Path, splits) -> Path:
        """A SavedModel on raw strings: the vocabulary layer, then the token-id model."""
        import keras

        from solutions.common.export import export_saved_model

        text = keras.Input(shape=(), dtype="string", name="text")
        end_to_end = keras.Model(text, model(splits.fitted["layer"](text)), name="sentiment_end_to_end")
        return export_saved_model(end_to_end, path)

    def tflite_source(self, model, saved_model_dir: Path, workdir: Path) -> Path:
        """Token ids in (the serving SavedModel takes strings, which TFLite builtins cannot)."""
        from solutions.common.export import export_fixed_batch, tflite_batch

        return export_fixed_batch(model, workdir / "tflite_source", batch=tflite_batch(model))

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        super().write_artifacts(run, splits, model, fitted)
        splits.fitted["tokenizer"].save(run.path)
        if "mixing" in fitted:
            run.write_json("mixing.json", fitted["mixing"])

    def run_checks(self, run: Run, splits, model, options) -> dict[str, Any]:
        """The plain-Python tokenizer, as saved and read back, against the vocabulary layer on
        every test text (round-tripped through a directory of its own)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tokenizer-check-") as folder:
            splits.fitted["tokenizer"].save(Path(folder))
            python_ids = Tokenizer.load(Path(folder))(splits.test.raw)
        same = np.all(python_ids == splits.test.x, axis=1)
        return {"tokenizer_texts_checked": len(same), "tokenizer_identical_texts": int(same.sum()),
                "tokenizer_agreement": float(same.mean())}

    # --- outputs -----------------------------------------------------------------------------
    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        return [self.confusion_plot(run, splits, y_score, fitted)]

    def report_notes(self, splits) -> list[str]:
        s = splits.source
        notes = [f"Split: {s.get('split')}; the vocabulary ({s['vocabulary_size']} entries) was adapted on the "
                 "training texts only; early stopping watched the validation split only.",
                 f"Texts are cut to {s['sequence_length']} words; {s['train_texts_truncated']} training texts were longer."]
        skipped = {k: v for k, v in s.get("skipped", {}).items() if v}
        if skipped:
            notes.append("Skipped texts: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items()))
        if s.get("read_as_latin1"):
            notes.append(f"{s['read_as_latin1']} lines were not valid UTF-8 and were read as Latin-1.")
        return notes

    def usage(self, run_path: Path) -> str:
        return f"""```
solutions predict {run_path} "a gripping , funny film" "dull and lifeless"   # Keras model
solutions predict {run_path} --file texts.txt --tflite                         # TFLite + plain-Python tokenizer
```
The SavedModel (`saved_model/`, signature `serving_default`) takes raw strings `[batch]` and returns
class probabilities in the order of `labels.txt`. The TFLite models take int32 token ids (shape in
metrics.json `export.float32.input_shape`; batch 1 for the recurrent model) made by
`solutions/sentiment/tokenizer.py` from `vocab.txt` and `tokenizer.json`:
```python
from solutions.sentiment.tokenizer import Tokenizer
ids = Tokenizer.load(Path("{run_path}"))(["a gripping , funny film"])  # int32 [1, sequence_length]
```"""

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """Per text: the label and its probability. Keras reads the text through the model's own
        vocabulary layer; a TFLite variant gets the plain-Python tokenizer's ids, as a device would."""
        from solutions.common.prediction import run_outputs

        texts = list(inputs)
        if options.get("file"):
            from solutions.sentiment.data import read_lines

            path = Path(options["file"])
            if not path.is_file():
                raise UserError(f"{path} is not a file")
            texts += read_lines(path)[0]
        if not texts:
            raise UserError('give one or more texts to answer for: solutions predict RUN "a text" ... or --file FILE')
        labels = run_labels(run)
        tokenizer = Tokenizer.load(run.path)
        ids = tokenizer(texts)
        x = vectorize(tokenizer.keras_layer(), np.asarray(texts, dtype=object)) if variant in (None, "keras") else ids
        probs = run_outputs(run, self, x, variant)
        words = run.config["source"]["sequence_length"]
        answers = []
        for text, p, row in zip(texts, probs, ids):
            best = int(np.argmax(p))
            note = None
            if not row.any():
                note = "no known tokens: the answer is the model's prior"
            elif len(split(standardize(text))) > words:
                note = f"cut to the first {words} words"
            answers.append({"text": text, "label": labels[best], "probability": float(p[best]),
                            "probabilities": [float(v) for v in p], "note": note})
        return answers

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        lines = []
        for a in answers:
            shown = " ".join(a["text"].split())
            shown = shown if len(shown) <= 70 else shown[:67] + "..."
            note = f"  ({a['note']})" if a["note"] else ""
            lines.append(f"{a['label']}\t{a['probability']:.3f}\t{shown}{note}")
        return lines


def vectorize(layer, texts: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Texts -> int32 ids with the Keras vocabulary layer (in chunks: IMDB is 50k long reviews)."""
    return np.concatenate([np.asarray(layer(list(texts[i : i + batch]))) for i in range(0, len(texts), batch)]).astype(np.int32)
