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
