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
