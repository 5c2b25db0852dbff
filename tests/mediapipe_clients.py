"""MediaPipe Tasks as a device app uses it (the same C++ as on Android and iOS): the client the
edge variants are written for. Test-only: the kit itself never imports MediaPipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def image_scores(model: Path, images: np.ndarray) -> np.ndarray:
    """[n, classes] scores MediaPipe's ImageClassifier gives for uint8 RGB images [n, H, W, 3]."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=-1)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        return np.stack([_scores(classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB,
                                                              data=np.ascontiguousarray(image))))
                         for image in images])


def text_scores(model: Path, texts: list[str]) -> np.ndarray:
    """[n, classes] scores MediaPipe's TextClassifier gives for raw strings."""
    from mediapipe.tasks.python import BaseOptions, text

    options = text.TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=-1)
    with text.TextClassifier.create_from_options(options) as classifier:
        return np.stack([_scores(classifier.classify(t)) for t in texts])


def _scores(result) -> np.ndarray:
    categories = result.classifications[0].categories
    out = np.zeros(len(categories), np.float32)
    for c in categories:
        out[c.index] = c.score
    return out


def metadata(model: Path):
    """The model's metadata as MediaPipe's own schema parser reads it (ModelMetadataT)."""
    from ai_edge_litert import schema_py_generated as schema
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    content = Path(model).read_bytes()
    tflite = schema.Model.GetRootAs(content, 0)
    for i in range(tflite.MetadataLength()):
        if tflite.Metadata(i).Name() == b"TFLITE_METADATA":
            buffer = tflite.Buffers(tflite.Metadata(i).Buffer()).DataAsNumpy().tobytes()
            assert fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
            return fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0))
    return None


def check_image_edge(run_dir: Path, *, float_agreement: float = 0.99, quantized_agreement: float = 0.98) -> dict:
    """MediaPipe's ImageClassifier on a run's edge models, fed the test split as RGB uint8 frames:
    its top-1 against the Keras model's decision, its scores against the kit's own TFLite run of the file."""
    from solutions.common.export import TFLiteRunner
    from solutions.common.prediction import predict_keras
    from solutions.common.rundir import open_finished
    from solutions.common.workflow import run_data

    run = open_finished(run_dir)
    solution, _, splits = run_data(run)
    x = splits.test.x
    frames = np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x
    # the run's decision: the argmax, or a binary screen's threshold (folded into its edge files)
    keras_top = solution.predicted_classes(predict_keras(solution.load_model(run), x.astype(np.float32)),
                                           solution.load_fitted(run))
    figures = {"test_images": len(x)}
    for name, least in (("model_edge.tflite", float_agreement), ("model_edge_uint8.tflite", quantized_agreement)):
        scores = image_scores(run.path / name, frames)
        kit = TFLiteRunner(run.path / name)(frames.astype(np.float32))
        agreement = float(np.mean(scores.argmax(1) == keras_top))
        diff = float(np.max(np.abs(scores - kit)))
        figures[name] = {"top1_agreement_with_keras": agreement, "max_abs_diff_vs_kit_tflite": diff}
        assert diff <= 1e-5, (name, diff)
        assert agreement >= least, (name, agreement)
    return figures


def check_text_edge(run_dir: Path, *, agreement_at_least: float = 0.99, within: float = 0.02) -> dict:
    """MediaPipe's TextClassifier on a sentiment run's edge model, fed the raw test texts: its
    top-1 against the edge model's Keras twin, its accuracy against the default model's."""
    import keras

    from solutions.common.export import TFLiteRunner
    from solutions.common.rundir import open_finished
    from solutions.common.workflow import run_data
    from solutions.sentiment.edge import RegexTokenizer

    run = open_finished(run_dir)
    _, _, splits = run_data(run)
    texts = [str(t) for t in splits.test.raw]
    path = run.path / "model_edge.tflite"
    ids = RegexTokenizer.from_tflite(path.read_bytes())(texts)
    twin = keras.saving.load_model(run.path / "model_edge.keras").predict(ids, verbose=0)
    scores = text_scores(path, texts)
    kit = TFLiteRunner(path)(ids)
    accuracy = float(np.mean(scores.argmax(1) == splits.test.y))
    default = run.read_json("metrics.json")["test"]["accuracy"]
    figures = {"test_texts": len(texts), "top1_agreement_with_keras": float(np.mean(scores.argmax(1) == twin.argmax(1))),
               "max_abs_diff_vs_kit_tflite": float(np.max(np.abs(scores - kit))),
               "mediapipe_accuracy": accuracy, "default_model_accuracy": default}
    assert figures["max_abs_diff_vs_kit_tflite"] <= 1e-5, figures
    assert figures["top1_agreement_with_keras"] >= agreement_at_least, figures
    assert accuracy >= default - within, figures
    return figures
