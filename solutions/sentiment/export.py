"""sentiment's export adapter: raw strings into the SavedModel, token ids into TFLite, the
tokenizer beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.rundir import Run
from solutions.sentiment.tokenizer import Tokenizer


class TextExport:
    """What each exported model takes, and the files a device needs to make its input."""

    edge_variants = ("edge",)

    def model_inputs(self, split) -> np.ndarray:
        return split.x.astype(np.int32)

    def serving_inputs(self, split) -> np.ndarray:
        return split.raw

    def export_saved_model(self, model, path: Path, splits) -> Path:
        """A SavedModel on raw strings: the vocabulary layer, then the token-id model."""
        import keras

        from solutions.common.export import export_saved_model

        text = keras.Input(shape=(), dtype="string", name="text")
        end_to_end = keras.Model(text, model(splits.fitted["layer"](text)), name="sentiment_end_to_end")
        return export_saved_model(end_to_end, path)

    def serving_instances(self, split) -> list:
        return [str(text) for text in split.raw]

    def serving_model(self, model, splits, fitted: dict, options):
        """serving_default: raw text -> class probabilities (the vocabulary layer inside);
        `labels`: raw text -> the label, its probability and every class's."""
        import keras

        from solutions.common.serving_export import Endpoint, ServingModel, label_outputs, tf

        text = keras.Input(shape=(), dtype="string", name="text")
        end_to_end = keras.Model(text, model(splits.fitted["layer"](text)), name="sentiment_end_to_end")
        names = list(splits.class_names)
        spec = (tf.TensorSpec([None], tf.string, name="text"),)
        return ServingModel((
            Endpoint("serving_default", lambda text: {"probabilities": end_to_end(text, training=False)}, spec),
            Endpoint("labels", lambda text: label_outputs(end_to_end(text, training=False), names), spec),
        ), track=(end_to_end,), instances=self.serving_instances(splits.test))

    def tflite_source(self, model, saved_model_dir: Path, workdir: Path) -> Path:
        """Token ids in (the serving SavedModel takes strings, which TFLite builtins cannot)."""
        from solutions.common.export import export_fixed_batch, tflite_batch

        return export_fixed_batch(model, workdir / "tflite_source", batch=tflite_batch(model))

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        super().write_artifacts(run, splits, model, fitted)
        splits.fitted["tokenizer"].save(run.path)
        if "mixing" in fitted:
            run.write_json("mixing.json", fitted["mixing"])

    def tflite_tensors(self, splits, options, variant: str):
        """Token ids made by the kit's tokenizer; label probabilities with labels.txt."""
        from solutions.common.edge import probabilities_tensor
        from solutions.common.tflite_metadata import TensorInfo

        # The vocabulary stays beside the model (vocab.txt): it is of use only with the kit's
        # tokenizer rules, and packing it would add its size (1.2 MB on rt-polarity) to every file.
        tokenizer = splits.fitted["tokenizer"]
        size = max(len(tokenizer.vocabulary), len(tokenizer.char_vocabulary or []))
        chars = (f"; then {tokenizer.config.char_sequence_length} ids of character n-grams from char_vocab.txt"
                 if tokenizer.config.char_ngrams else "")
        return [TensorInfo("token_ids", f"Token ids [batch, {splits.train.x.shape[1]}] made by the kit's tokenizer "
                           "from vocab.txt and tokenizer.json beside the model (line i of vocab.txt is id i; "
                           f"ASCII lower-casing, punctuation split off, n-grams{chars}; 0 is padding, "
                           "1 out-of-vocabulary). tokenizer.json's `rules` state each step exactly and its "
                           "`example` is one text with its ids, to check a reimplementation against.", value_range=(0, size - 1), dimension_names=("batch", "token"))], \
            [probabilities_tensor(list(splits.class_names), "label")]

    def edge_models(self, model, splits, fitted: dict, options, variants: list[str]):
        """A model of its own for MediaPipe's TextClassifier (solutions/sentiment/edge.py), trained
        with the run and reused by a re-export; checked against its Keras twin and scored on the
        test split beside the default model. Its metadata holds the regex tokenizer."""
        from solutions.common.edge import EdgeModel, probabilities_tensor
        from solutions.common.prediction import predict_keras
        from solutions.common.tflite_metadata import AssociatedFile, TensorInfo
        from solutions.sentiment.edge import DELIMITER, train_edge_model

        edge, tokenizer = fitted["edge"] if "edge" in fitted else train_edge_model(self, splits, options)
        x_test = tokenizer(splits.test.raw)
        reference = predict_keras(edge, x_test)
        vocabulary = AssociatedFile("vocab.txt", tokenizer.vocabulary_file(),
                                    "Words and their ids, one '<word> <id>' per line.", "VOCABULARY")
        text = TensorInfo("input_text", f"Raw text: split on {DELIMITER} as RE2 reads it (\\w is ASCII only, "
                          "[0-9A-Za-z_]: an accented letter splits a word), each word looked up in vocab.txt "
                          "(which also lists it Capitalized and in UPPER case under the same id), <START> first, "
                          f"cut or padded to {tokenizer.length} ids.",
                          regex_tokenizer=(DELIMITER, vocabulary), dimension_names=("batch", "token"))
        return [EdgeModel("edge", edge, x_test, reference, keras_test=self.test_metrics(splits.test.y, reference, fitted),
                          tensors=([text], [probabilities_tensor(list(splits.class_names), "label")]))]

    def load_fitted(self, run: Run) -> dict[str, Any]:
        """The edge model and its tokenizer, when the run has them (a re-export ships the same model)."""
        from solutions.common.variants import TFLITE_FILES
        from solutions.sentiment.edge import RegexTokenizer

        twin, tflite = run / "model_edge.keras", run / TFLITE_FILES["edge"]
        if not (twin.exists() and tflite.exists()):
            return {}
        import keras

        import solutions.sentiment.model  # noqa: F401  (registers the bag model's layers)

        from solutions.common.errors import UserError

        tokenizer = RegexTokenizer.from_tflite(tflite.read_bytes(), str(tflite))
        try:
            edge = keras.saving.load_model(twin, compile=False)
        except Exception as exc:  # truncated or damaged: one line, as for model.keras
            raise UserError(f"{twin} cannot be loaded ({exc.__class__.__name__}); delete it and "
                            f"{tflite.name}, and `solutions export` trains the edge model again") from None
        return {"edge": (edge, tokenizer)}

    def run_checks(self, run: Run, splits, model, options) -> dict[str, Any]:
        """The plain-Python tokenizer, as saved and read back, against the vocabulary layer on
        every test text (round-tripped through a directory of its own)."""
        from solutions.common.files import scratch_directory

        with scratch_directory("tokenizer-check") as folder:
            splits.fitted["tokenizer"].save(Path(folder))
            python_ids = Tokenizer.load(Path(folder))(splits.test.raw)
        same = np.all(python_ids == splits.test.x, axis=1)
        return {"tokenizer_texts_checked": len(same), "tokenizer_identical_texts": int(same.sum()),
                "tokenizer_agreement": float(same.mean())}
