"""The one prediction path: a run's Keras model or any of its TFLite variants, for training,
evaluation, export checks, `solutions predict` and `Run.predict` alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solutions.common.errors import UserError

if TYPE_CHECKING:
    import keras

    from solutions.common.rundir import Run
    from solutions.common.solution import Solution

KERAS = "keras"


def predict_keras(model: "keras.Model", x: "np.ndarray | list | tuple | dict", batch_size: int = 256) -> np.ndarray:
    """Model outputs for a whole array (or a list, tuple or dict of them, one per model input), in
    batches, without a progress bar or tf.data's autotuner (common/pipeline.py)."""
    from solutions.common.pipeline import inference_dataset

    return np.asarray(model.predict(inference_dataset(x, batch_size), verbose=0))


def variant_names() -> tuple[str, ...]:
    from solutions.common.variants import EDGE_VARIANTS, TFLITE_VARIANTS

    return (KERAS, *TFLITE_VARIANTS, *EDGE_VARIANTS)


def check_variant(variant: str | None) -> str:
    """`None` is the Keras model; anything else must be a TFLite variant's name."""
    variant = variant or KERAS
    if variant not in variant_names():
        raise UserError(f"unknown variant {variant!r}; choose from {', '.join(variant_names())}")
    return variant


def run_outputs(run: "Run", solution: "Solution", x: np.ndarray, variant: str | None = None) -> np.ndarray:
    """Outputs of the run's Keras model (`variant` None or "keras") or of one of its TFLite files;
    a variant the run does not have is one clear error."""
    variant = check_variant(variant)
    if variant == KERAS:
        return predict_keras(solution.load_model(run), x)
    from solutions.common.export import TFLiteRunner
    from solutions.common.variants import EDGE_VARIANTS, TFLITE_FILES

    path = run / TFLITE_FILES[variant]
    if not path.exists():
        have = ", ".join([KERAS, *(v for v, name in TFLITE_FILES.items() if (run / name).exists())])
        if variant in EDGE_VARIANTS and variant not in solution.edge_variants:
            shipped = f"its edge variants are {', '.join(solution.edge_variants)}" if solution.edge_variants else \
                "it ships no edge variant"
            raise UserError(f"{solution.name} runs have no {variant} model ({shipped}); {run.path} has {have}")
        how = {"float32": "none", "edge": "none", "edge_uint8": "int8"}.get(variant, variant)
        raise UserError(f"{run.path} has no {variant} TFLite model ({path.name}); it has {have}: "
                        f"re-export with `solutions export {run.path} --format tflite --quantize {how}`")
    outputs = TFLiteRunner(path)(x)
    if variant in EDGE_VARIANTS:  # a binary screen's edge file scores with its decision folded in
        from solutions.common.edge import folded_threshold, probabilities_from_scores

        threshold = folded_threshold(path.read_bytes())  # the file says so itself (older files: None)
        if threshold is not None:
            outputs = probabilities_from_scores(outputs, threshold)
    return outputs
