"""Edge variants: TFLite files that on-device task runtimes (MediaPipe Tasks, the TFLite Task
Library) run as they are, and the metadata every exported .tflite carries.

An edge model takes what a device has (an RGB camera frame, raw text), batch 1; it is either the
run's own model behind a few fixed layers (images) or a model of its own trained for it (text),
and it is checked against its Keras twin like every other variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from solutions.common.rundir import final_path
from solutions.common.tflite_metadata import AssociatedFile, ModelInfo, TensorInfo

if TYPE_CHECKING:
    import keras

# ITU-R BT.601 luma, what Pillow's convert("L") applies to the images the kit trains on.
LUMA = (0.299, 0.587, 0.114)


@dataclass
class EdgeModel:
    """One edge variant to convert: its Keras model, its inputs for the test split, and the Keras
    outputs the converted file must match."""

    variant: str  # a name of `common.variants.EDGE_VARIANTS`
    model: "keras.Model"
    x_test: np.ndarray
    reference: np.ndarray
    quantize: str = "float32"  # or "int8" (full-integer with `io_dtype` inputs and outputs)
    io_dtype: str | None = None
    representative: np.ndarray | None = None
    keras_test: dict[str, float] | None = None  # test metrics of `model` itself, when it is its own model
    tensors: tuple[list[TensorInfo], list[TensorInfo]] | None = None  # its metadata, when not the run's
    input_quantization: tuple[float, int] | None = None  # the (scale, zero point) its input must have
    decision_threshold: float | None = None  # folded in (`DecisionScores`): its scores' argmax is the decision


# uint8 pixels fed as they are: scale 1, zero point 0.
UINT8_PIXELS = (1.0, 0)


def kit_version() -> str:
    from solutions.common.rundir import kit_version as version

    return version()


def model_info(name: str, description: str, version: str, inputs: list[TensorInfo],
               outputs: list[TensorInfo]) -> ModelInfo:
    return ModelInfo(name=name, description=description, version=version,
                     author=f"keras-solutions-kit {kit_version()}", inputs=tuple(inputs), outputs=tuple(outputs))


def run_model_info(solution: Any, run_path: Any, source: str, title: str, what: str,
                   tensors: tuple[list[TensorInfo], list[TensorInfo]]) -> ModelInfo:
    """Metadata of one file of a run: `title` (e.g. "sentiment (edge)"), what the file is, the
    data it was trained on; the version is the run's id (its directory name)."""
    version = final_path(run_path).name
    return model_info(title, f"{solution.summary}. Trained on {source} by `solutions train {solution.name}` "
                      f"(run {version}); {what}.", version, *tensors)


def labels_file(class_names: list[str]) -> AssociatedFile:
    """labels.txt as task runtimes read it: line i names output index i."""
    return AssociatedFile("labels.txt", ("\n".join(class_names) + "\n").encode(),
                          "Class names, line i is output index i.", "TENSOR_AXIS_LABELS")


# An edge output with a decision folded in is named so, and its description carries the threshold
# as `decision_threshold=<t>`: the file itself says how to read it (`folded_threshold`).
DECISION_SCORE = "decision_score"
FOLDED = re.compile(r"decision_threshold=([0-9.eE+-]+)")


def probabilities_tensor(class_names: list[str], what: str = "class", threshold: float | None = None) -> TensorInfo:
    if threshold is None:
        return TensorInfo("probability", f"Probability of each {what}, in the order of labels.txt; they sum to 1.",
                          value_range=(0.0, 1.0), dimension_names=("batch", "class"), files=(labels_file(class_names),))
    words = (f"Score of each {what}, in the order of labels.txt; they sum to 1. The run's decision threshold t "
             f"on the calibrated probability of {class_names[1]!r} is folded in (decision_threshold={threshold!r}): "
             f"{class_names[1]!r} scores over 0.5 exactly when that probability is at or over t, so the top class "
             f"is the run's decision. Its probability p is s*t / (s*t + (1-s)*(1-t)) of its score s.")
    return TensorInfo(DECISION_SCORE, words, value_range=(0.0, 1.0), dimension_names=("batch", "class"),
                      files=(labels_file(class_names),))


def folded_threshold(content: bytes) -> float | None:
    """The decision threshold folded into a .tflite (`probabilities_tensor`), or None: a file
    exported before folding, or one without it, outputs probabilities."""
    from solutions.common.tflite_metadata import read_metadata

    metadata = read_metadata(content)
    outputs = (metadata or {}).get("outputs") or [{}]
    found = FOLDED.search(outputs[0].get("description") or "") if outputs[0].get("name") == DECISION_SCORE else None
    return float(found.group(1)) if found else None


def threshold_to_fold(threshold: float | None) -> float | None:
    """The threshold an edge file folds in for a stored one, or None when there is none to fold
    (multi-class) or it is not inside (0, 1) (a rule that always or never decides positive).
    The run decides "p1 >= t" on float32 probabilities (NumPy 2 compares a float32 array with a
    Python float in float32) and an argmax gives ties to the first class, so it is folded one
    float32 step lower."""
    if threshold is None or not 0.0 < threshold < 1.0:
        return None
    return float(np.nextafter(np.float32(threshold), np.float32(0.0)))


def decision_scores(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Two-class probabilities [p0, p1] -> scores whose argmax is "p1 > threshold":
    [p0 t, p1 (1-t)] normalised, so p1 = t scores 0.5; monotone in p1."""
    weighted = np.asarray(probabilities, np.float64) * np.array([threshold, 1.0 - threshold])
    return (weighted / weighted.sum(axis=-1, keepdims=True)).astype(np.float32)


def probabilities_from_scores(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The inverse of `decision_scores`: the calibrated probabilities back from an edge file's scores."""
    return decision_scores(scores, 1.0 - threshold)


def decision_model(model: "keras.Model", threshold: float) -> "keras.Model":
    """`model` (two-class probabilities) with `decision_scores` folded in (MUL, SUM and DIV: builtin ops)."""
    import keras

    weights = np.array([threshold, 1.0 - threshold], np.float32)

    class DecisionScores(keras.layers.Layer):
        def call(self, p):
            weighted = p * keras.ops.convert_to_tensor(weights)
            return weighted / keras.ops.sum(weighted, axis=-1, keepdims=True)

    return keras.Model(model.inputs, DecisionScores(name="decision_scores")(model.outputs[0]), name=f"{model.name}_decision")


def image_tensor(height: int, width: int, channels: int) -> TensorInfo:
    """Raw pixels 0-255 (the model scales them itself): normalization mean 0, std 1."""
    space = "RGB" if channels == 3 else "GRAYSCALE"
    words = "RGB" if channels == 3 else "grayscale (one channel)"
    return TensorInfo("image", f"{words} image, {height}x{width}, pixel values 0-255 as they are "
                      "(the model rescales them); resize to this size before feeding.",
                      image=space, normalization=([0.0], [1.0]), value_range=(0.0, 255.0),
                      dimension_names=("batch", "height", "width", "channel"))


def rgb_input_model(model: "keras.Model") -> "keras.Model":
    """`model` behind an RGB input: a grayscale model gets the luma of the frame (a fixed 1x1
    convolution, a builtin op), an RGB one the frame itself."""
    import keras

    height, width, channels = model.input_shape[1:]
    frame = keras.Input((height, width, 3), name="image")
    x = frame
    if channels == 1:
        luma = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="rgb_to_gray")
        x = luma(frame)
        luma.set_weights([np.asarray(LUMA, np.float32).reshape(1, 1, 3, 1)])
    elif channels != 3:
        raise ValueError(f"an edge image model needs 1 or 3 channels, not {channels}")
    return keras.Model(frame, model(x), name=f"{model.name}_rgb")


def to_gray(x: np.ndarray) -> np.ndarray:
    """RGB images [..., 3] -> their luma [..., 1], as an edge model's first layer computes it."""
    return (x.astype(np.float32) @ np.asarray(LUMA, np.float32))[..., None]


def as_rgb(x: np.ndarray) -> np.ndarray:
    """Grayscale images as the RGB frames a camera would give (the gray value in every channel)."""
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def image_edge_models(model: "keras.Model", x_test: np.ndarray, reference: np.ndarray,
                      representative: np.ndarray | None, variants: list[str], threshold: float | None = None,
                      tensors: tuple[list[TensorInfo], list[TensorInfo]] | None = None) -> list[EdgeModel]:
    """The run's image model on RGB frames, float32 and (when asked) int8 with uint8 pixels in
    and uint8 probabilities out, as on-device image classifiers take them.

    A binary screen's `threshold` is folded in (`decision_model`): a device's classifier reports
    the top class, which without it is "p > 0.5", not the run's decision (on a 1-epoch
    PneumoniaMNIST run MediaPipe's top class differed from `solutions predict` on 115 of 200 scans).

    A device feeds the uint8 pixels as they are, so the uint8 input must be quantized with scale 1
    and zero point 0: a black and a white frame join the calibration samples so that their range
    is exactly 0..255 whatever the data's (checked after conversion, `UINT8_PIXELS`)."""
    rgb = rgb_input_model(model)
    threshold = threshold_to_fold(threshold)
    if threshold is not None:
        rgb, reference = decision_model(rgb, threshold), decision_scores(reference, threshold)
        if tensors is not None:
            (image,), (output,) = tensors
            tensors = ([image], [probabilities_tensor(_labels_of(output), threshold=threshold)])
    common = {"tensors": tensors, "decision_threshold": threshold}
    out = [EdgeModel("edge", rgb, as_rgb(x_test), reference, **common)]
    if "edge_uint8" in variants and representative is not None:
        frames = as_rgb(representative).astype(np.float32)
        extremes = np.stack([np.zeros_like(frames[0]), np.full_like(frames[0], 255.0)])
        out.append(EdgeModel("edge_uint8", rgb, as_rgb(x_test), reference, quantize="int8", io_dtype="uint8",
                             representative=np.concatenate([extremes, frames]), input_quantization=UINT8_PIXELS,
                             **common))
    return out


def _labels_of(output: TensorInfo) -> list[str]:
    return output.files[0].content.decode().splitlines()


def describe_metadata(metadata: dict[str, Any]) -> str:
    """One line per file for report.md: what the metadata names and which files it packs."""
    def tensor(t: dict[str, Any]) -> str:
        bits = [t.get("name") or "?"]
        if t.get("image"):
            bits.append(t["image"])
        if t.get("range"):
            bits.append(f"range {t['range'][0]:g}..{t['range'][1]:g}")
        if t.get("normalization"):
            bits.append(f"normalization mean {t['normalization']['mean']} std {t['normalization']['std']}")
        if t.get("regex_tokenizer"):
            bits.append(f"regex tokenizer {t['regex_tokenizer']['pattern']!r}")
        names = [f["name"] for f in t.get("files", [])]
        if names:
            bits.append("files " + ", ".join(names))
        return " ".join(bits[:1]) + (f" ({'; '.join(bits[1:])})" if bits[1:] else "")

    return (f"{metadata['name']}, version {metadata['version']} (the run), by {metadata['author']}; inputs: "
            + ", ".join(tensor(t) for t in metadata["inputs"]) + "; outputs: "
            + ", ".join(tensor(t) for t in metadata["outputs"]))
