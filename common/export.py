"""SavedModel and TFLite export, and the checks that prove each file matches the Keras model.

Keras 3 cannot go through `TFLiteConverter.from_keras_model` (tensorflow/tensorflow#63867), so the
path is Keras -> `model.export` SavedModel -> `TFLiteConverter.from_saved_model`, with builtin ops
only. A model that needs Flex ops fails here, naming them, instead of shipping a file that a
device cannot run.
"""

from __future__ import annotations

import re
import shutil
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

from solutions.common.files import replace_directory, scratch_directory
from solutions.common.errors import ExportError, UserError
from solutions.common.runtime import import_tensorflow, stderr_silenced

tf = import_tensorflow()

from solutions.common.variants import TFLITE_FILES, TFLITE_VARIANTS, tflite_variants  # noqa: E402,F401


def export_saved_model(model, path: Path) -> Path:
    """`model.export` writes a `serve` endpoint and `serving_default` signature on raw inputs;
    written beside `path` and swapped in, so a failed or killed export leaves the old one."""

    def write(target: Path) -> None:
        with stderr_silenced():
            model.export(str(target), format="tf_saved_model", verbose=False)

    return replace_directory(path, write)


def tflite_batch(model) -> int | None:
    """The batch size a TFLite signature of `model` must fix: 1 when it has a recurrent layer
    (LSTM/GRU, also inside Bidirectional), None (dynamic) otherwise; see `export_fixed_batch`."""
    import keras

    recurrent = (keras.layers.RNN, keras.layers.Bidirectional)
    layers = model._flatten_layers(include_self=False, recursive=True)
    return 1 if any(isinstance(layer, recurrent) for layer in layers) else None


def export_fixed_batch(model, path: Path, *, batch: int | None, output_names: tuple[str, ...] = ()) -> Path:
    """A SavedModel of `model` whose serving signature has batch dimension `batch` (None: any);
    `output_names` name a multi-output model's outputs in the signature (else output_0, ...).

    Recurrent layers convert to TFLite builtin ops (a WHILE loop) only with a fixed batch; with a
    dynamic one the converter needs the Flex TensorListReserve op (tensorflow/tensorflow#62849).
    """
    import keras

    if path.exists():
        shutil.rmtree(path)
    spec = tf.TensorSpec((batch, *model.input_shape[1:]), model.inputs[0].dtype, name=model.inputs[0].name)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if output_names:
        def serve(x):
            return dict(zip(output_names, model(x, training=False), strict=True))
    else:
        def serve(x):
            return model(x, training=False)
    archive.add_endpoint("serve", serve, input_signature=[spec])
    with stderr_silenced():
        archive.write_out(str(path), verbose=False)
    return path


def convert_tflite(
    saved_model_dir: Path,
    variant: str,
    representative: np.ndarray | None = None,
    *,
    integer_io: str | None = "int8",
) -> bytes:
    """Convert a SavedModel to one TFLite variant using builtin ops only.

    int8 is full-integer quantization calibrated on `representative` (single samples, as the
    converter wants; tensorflow/tensorflow#47027); with `integer_io` its float inputs and outputs
    become integers too: int8 as microcontrollers and NPUs need, uint8 as on-device image
    classifiers take camera pixels. Integer inputs (token or item ids) keep their type: ids are
    indices, not values to quantize.
    """
    if variant not in TFLITE_VARIANTS:
        raise ExportError(f"unknown TFLite variant {variant!r}; choose from {', '.join(TFLITE_VARIANTS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if representative is None or len(representative) == 0:
            raise ExportError("int8 quantization needs representative samples from the training data")
        samples = representative if np.issubdtype(representative.dtype, np.integer) else representative.astype(np.float32)

        def generator():
            for sample in samples:
                yield [sample[None]]

        converter.representative_dataset = generator
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if integer_io and samples.dtype == np.float32:
            converter.inference_input_type = tf.as_dtype(integer_io)
            converter.inference_output_type = tf.as_dtype(integer_io)
    try:
        with stderr_silenced():
            return converter.convert()
    except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError ...
        message = str(exc)
        ops = sorted(set(re.findall(r"'?(?:tf|tfl)\.([A-Za-z0-9_]+)'? op is neither", message)))
        ops = ops or sorted(set(re.findall(r"\btf\.([A-Z][A-Za-z0-9_]+)\b", message)))
        if ops:
            raise ExportError(
                f"TFLite {variant} export needs ops that are not TFLite builtins: {', '.join(ops)} "
                "(they would need the Flex delegate, which edge runtimes do not ship)"
            ) from None
        first = next((line for line in message.splitlines() if "error" in line.lower()), message[:300])
        raise ExportError(f"TFLite {variant} conversion failed: {first.strip()}") from None


def convert_tflite_isolated(saved_model_dir: Path, variant: str, representative: np.ndarray | None = None) -> bytes:
    """`convert_tflite` in a child process, which also runs the file once on two representative
    samples: the int8 quantizer can crash the whole process on recurrent models (a segmentation
    fault, tensorflow/tensorflow#76672), and the two-stage retrieval model's int8 file aborts the
    interpreter at its first invoke, neither of which an `except` catches. A crash becomes an
    ExportError, so the run records the variant as skipped and goes on."""
    import subprocess
    import sys

    with scratch_directory("tflite-convert") as tmp:
        out, rep = Path(tmp) / "model.tflite", Path(tmp) / "representative.npy"
        args = [sys.executable, "-m", "solutions.common.export", str(saved_model_dir), variant, str(out)]
        if representative is not None:
            np.save(rep, representative)
            args.append(str(rep))
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode == 0 and out.exists():
            return out.read_bytes()
        lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        if lines:
            raise ExportError(lines[-1].removeprefix("error: "))
        why = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise ExportError(f"the TFLite converter, or the interpreter running the converted file, crashed ({why}) "
                          f"building {variant} (a TensorFlow Lite bug, known for quantized recurrent layers: "
                          "tensorflow/tensorflow#76672)")


# A float export computes what its Keras model computes up to float rounding; beyond this share of
# the outputs' scale it is wrong (a converter bug: README "Reliability", the catalogue folded to garbage).
FLOAT_PARITY = 1e-3


def check_float_parity(what: str, output: np.ndarray, reference: np.ndarray, *,
                       tolerance: float = FLOAT_PARITY) -> float:
    """The largest |output - reference|, or an ExportError when a float export disagrees with
    its Keras model beyond rounding: such a file would answer wrongly on every device, and a
    number in the metrics is not enough to stop it from shipping."""
    output, reference = np.asarray(output, np.float64), np.asarray(reference, np.float64)
    diff = float(np.max(np.abs(output - reference))) if output.shape == reference.shape else float("inf")
    allowed = tolerance * max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    if not diff <= allowed:  # NaN fails too
        raise ExportError(f"{what} disagrees with the Keras model on the test split (max |diff| {diff:.3g}, "
                          f"float rounding allows {allowed:.3g}); it was not written. This is a converter "
                          "bug: please report it with the run's config.json")
    return diff


# A quantized file may lose a little of its model's score, not this much (of the Keras model's
# headline, or 0.02 if more): beyond it the file is broken for its use (a conv1d volatility model's
# int8 file scored QLIKE 6.5e9 against Keras' 0.73), and it is not shipped.
QUANTIZED_LOSS = 0.10


def check_quantized_score(what: str, metric: str, value: float, keras_value: float, *, lower_is_better: bool,
                          tolerance: float = QUANTIZED_LOSS) -> None:
    """An ExportError when a quantized export's test headline falls more than `tolerance` behind the
    Keras model's (or is not a number); the other variants still ship."""
    import math

    if not isinstance(keras_value, (int, float)) or not math.isfinite(keras_value):
        return
    gap = max(tolerance * abs(keras_value), 0.02)
    fine = isinstance(value, (int, float)) and math.isfinite(value) and (
        value <= keras_value + gap if lower_is_better else value >= keras_value - gap)
    if not fine:
        shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
        raise ExportError(f"{what} scores test {metric} {shown} against the Keras model's {keras_value:.4g}: "
                          f"quantization lost more than {tolerance:.0%} of it, so it was not written")


class TFLiteRunner:
    """Runs a .tflite model with the LiteRT interpreter on float inputs, (de)quantizing as needed."""

    def __init__(self, model: bytes | Path, *, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        content = model.read_bytes() if isinstance(model, Path) else model
        self.bytes = len(content)
        try:
            with stderr_silenced():  # the runtime announces its XNNPACK delegate on stderr
                self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            where = model if isinstance(model, Path) else "the TFLite model"
            raise UserError(f"{where} is not a valid TFLite model (truncated or damaged: "
                            f"{str(exc).splitlines()[0][:120]})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.dynamic_batch = int(self.input["shape_signature"][0]) == -1
        self._batch = int(self.input["shape"][0])

    def op_names(self) -> list[str]:
        return sorted({op["op_name"] for op in self.interpreter._get_ops_details()})

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        scale, zero = self.input["quantization"]
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zero = self.output["quantization"]
        if np.issubdtype(y.dtype, np.integer) and scale:
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self.interpreter.set_tensor(self.input["index"], self._quantize(x))
        self.interpreter.invoke()
        return self._dequantize(self.interpreter.get_tensor(self.output["index"]))

    def __call__(self, x: np.ndarray, *, chunk: int = 256) -> np.ndarray:
        step = chunk if self.dynamic_batch else self._batch
        return np.concatenate([self._invoke(x[i : i + step]) for i in range(0, len(x), step)])

    def latency_ms(self, one: np.ndarray, repeats: int = 50) -> float:
        """Median time of one call on `one`, a batch of a single input."""
        return median_latency_ms(lambda: self._invoke(one), repeats)


def median_latency_ms(call: Callable[[], object], repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of one call, after warm-up: the single-sample figure an edge device sees."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class SavedModelRunner:
    """The exported SavedModel reloaded with plain `tf.saved_model.load`, as a server would."""

    def __init__(self, path: Path):
        self.loaded = tf.saved_model.load(str(path))
        self.serve = self.loaded.signatures["serving_default"]
        self._input_name, spec = next(iter(self.serve.structured_input_signature[1].items()))
        self._dtype = spec.dtype  # float32 pixels, int32 ids or raw strings

    def _call(self, x: np.ndarray) -> np.ndarray:
        values = list(x) if self._dtype == tf.string else x
        out = self.serve(**{self._input_name: tf.constant(values, dtype=self._dtype)})
        return np.asarray(next(iter(out.values())))

    def __call__(self, x: np.ndarray, *, chunk: int = 256) -> np.ndarray:
        return np.concatenate([self._call(x[i : i + chunk]) for i in range(0, len(x), chunk)])

    def latency_ms(self, one: np.ndarray, repeats: int = 50) -> float:
        return median_latency_ms(lambda: self._call(one), repeats)


def run_tflite(run_dir: Path, x: np.ndarray, name: str = "model.tflite") -> np.ndarray:
    """Outputs of a run's TFLite file for `x` (what `predict --tflite` answers with)."""
    path = Path(run_dir) / name
    if not path.exists():
        raise ExportError(f"{path} does not exist; run `solutions export {run_dir} --format tflite`")
    return TFLiteRunner(path)(x)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":  # the child process of `convert_tflite_isolated`
    import sys

    source, variant_name, target = sys.argv[1:4]
    samples = np.load(sys.argv[4]) if len(sys.argv) > 4 else None
    try:
        content = convert_tflite(Path(source), variant_name, samples)
        if samples is not None:  # a file that aborts the interpreter (two_stage int8 did) dies here, not in the run
            TFLiteRunner(content)(samples[:2])
        Path(target).write_bytes(content)
    except (ExportError, ValueError, RuntimeError) as error:  # said as they are, not as a crash
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
