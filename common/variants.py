"""The TFLite variants a run ships and their file names (no TensorFlow here: the command line
lists them before anything heavy loads)."""

from __future__ import annotations

TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8")
# For on-device task runtimes (MediaPipe Tasks, TFLite Task Library): batch 1 and the input a
# device has (RGB camera frames, raw text); a domain says which of them it ships.
EDGE_VARIANTS = ("edge", "edge_uint8")

TFLITE_FILES = {
    "float32": "model.tflite",
    "float16": "model_float16.tflite",
    "dynamic": "model_dynamic.tflite",
    "int8": "model_int8.tflite",
    "edge": "model_edge.tflite",
    "edge_uint8": "model_edge_uint8.tflite",
}


def tflite_variants(quantize: str) -> list[str]:
    """`--quantize none|dynamic|float16|int8|all` -> the TFLite variants to build (float32 always)."""
    return ["float32"] + [v for v in TFLITE_VARIANTS[1:] if quantize in ("all", v)]
