"""TensorFlow Serving's REST JSON, both ways: a predict request's `instances` (row format) or
`inputs` (columnar format) into one array per signature input, and outputs into `predictions` /
`outputs`. The rules are TF Serving's (`tensorflow_serving/util/json_tensor.cc`, `api_rest.md`),
so a client written for TF Serving works against `solutions serve` and the other way round:

- Row format: with one input, `instances` is a list of values (or of `{name: value}` objects);
  with several, a list of objects whose keys are exactly the inputs. Columnar: `inputs` is the
  value of the one input, or an object of every input.
- String inputs take JSON strings, or `{"b64": "..."}` for binary data (encoded images).
- Numbers must be of the input's kind: an integer input refuses 1.5 and true; a float input
  takes integers. Nested lists must be rectangular and of the signature's shape.
- Row answers: `{"predictions": [...]}`, one entry per instance (a value with one output, an
  object of outputs with several). Columnar answers: `{"outputs": ...}`. String outputs whose
  name ends in `_bytes` come back as `{"b64": ...}`.

No TensorFlow here: the server checks a request before it reaches the model.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


class RequestError(Exception):
    """A request the model cannot answer: HTTP `status` with `{"error": message}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class InputSpec:
    """One signature input: its name, numpy dtype (`object` for strings) and shape (None: any)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None  # None: unknown rank

    @property
    def batched(self) -> bool:
        return bool(self.shape) and self.shape[0] is None


# Images a serving signature decodes (tf.io.decode_image); others are refused before the model.
# MPO is how Pillow names a camera JPEG with extra frames; TensorFlow decodes its first, as a JPEG.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP")
DECODED_AS = {"MPO": "JPEG"}
MAX_IMAGE_PIXELS = 25_000_000  # one image (a 24-megapixel photo passes); a decompression bomb does not
MAX_REQUEST_PIXELS = 100_000_000  # all the images of one request
MAX_DEPTH = 32  # nested lists: more than any tensor here has dimensions


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise RequestError("the request body nests too deeply") from None


def predict_inputs(request: Any, specs: list[InputSpec]) -> tuple[dict[str, np.ndarray], bool]:
    """(one array per input, row format?) for a parsed predict request."""
    if not isinstance(request, dict):
        raise RequestError("the request must be a JSON object with 'instances' or 'inputs'")
    if "instances" in request and "inputs" in request:
        raise RequestError("the request has both 'instances' and 'inputs'; send one of them")
    if "instances" in request:
        return _rows(request["instances"], specs), True
    if "inputs" in request:
        return _columns(request["inputs"], specs), False
    raise RequestError("Missing 'inputs' or 'instances' key")


def _rows(instances: Any, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise RequestError("'instances' must be a non-empty list (one entry per example)")
    names = [s.name for s in specs]
    unbatched = [s.name for s in specs if not s.batched]
    if unbatched:
        raise RequestError(f"input(s) {', '.join(unbatched)} have no batch dimension: send this signature "
                           "the columnar format ('inputs')")
    if len(specs) == 1 and not (isinstance(instances[0], dict) and set(instances[0]) == {names[0]}):
        columns = {names[0]: instances}
    else:
        columns = {name: [] for name in names}
        for i, row in enumerate(instances):
            if not isinstance(row, dict) or set(row) != set(names):
                got = sorted(row) if isinstance(row, dict) else type(row).__name__
                raise RequestError(f"instance {i}: expected an object with the keys {names}, got {got}")
            for name in names:
                columns[name].append(row[name])
    return {s.name: to_array(columns[s.name], s) for s in specs}


def _columns(inputs: Any, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    names = [s.name for s in specs]
    if len(specs) == 1 and not (isinstance(inputs, dict) and set(inputs) == {names[0]}):
        inputs = {names[0]: inputs}
    if not isinstance(inputs, dict) or set(inputs) != set(names):
        got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
        raise RequestError(f"'inputs' must be an object with the keys {names}, got {got}")
    return {s.name: to_array(inputs[s.name], s) for s in specs}


def to_array(value: Any, spec: InputSpec) -> np.ndarray:
    """A JSON value as an array of `spec`'s dtype and shape, or a RequestError naming the input."""
    if spec.dtype == object:
        array = _strings(value, spec.name)
    else:
        if np.dtype(spec.dtype).kind != "b" and _has_bool(value, spec.name):
            raise RequestError(f"input {spec.name!r} takes {_dtype_name(np.dtype(spec.dtype))} values, got booleans")
        try:
            array = np.array(value)
        except ValueError:
            raise RequestError(f"input {spec.name!r}: nested lists of unequal lengths (a tensor must be "
                               "rectangular)") from None
        kind = array.dtype.kind
        wanted = np.dtype(spec.dtype)
        if wanted.kind == "b":
            ok = kind == "b"
        elif wanted.kind in "iu":
            ok = kind in "iu"
        else:
            ok = kind in "iuf"
        if not ok:
            what = {"U": "strings", "b": "booleans", "f": "fractional numbers", "O": "mixed values"}.get(kind, kind)
            raise RequestError(f"input {spec.name!r} takes {_dtype_name(wanted)} values, got {what}")
        if wanted.kind in "iu":
            info = np.iinfo(wanted)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise RequestError(f"input {spec.name!r}: a value is out of the {_dtype_name(wanted)} range")
        with np.errstate(over="ignore", invalid="ignore"):  # out of range: refused just below
            array = array.astype(wanted)
        if wanted.kind == "f" and not np.all(np.isfinite(array)):
            raise RequestError(f"input {spec.name!r}: a value is not a finite {_dtype_name(wanted)}")
    check_shape(array, spec)
    return array


def _has_bool(value: Any, name: str, depth: int = 0) -> bool:
    """Whether nested lists hold a JSON true/false (numpy would take it as 1/0)."""
    if depth > MAX_DEPTH:
        raise RequestError(f"input {name!r} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        if value and not isinstance(value[0], list):
            return any(type(v) is bool for v in value)
        return any(_has_bool(v, name, depth + 1) for v in value)
    return type(value) is bool


def b64_bytes(text: str, name: str) -> bytes:
    """Standard base64, padded or not, line breaks allowed (as TF Serving's decoder takes it)."""
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"input {name!r}: a 'b64' value is not valid base64") from None


def _strings(value: Any, name: str) -> np.ndarray:
    """Strings and {"b64": ...} objects, nested as the tensor is, to an object array of bytes."""
    def convert(v: Any, depth: int) -> Any:
        if isinstance(v, list):
            if depth >= MAX_DEPTH:
                raise RequestError(f"input {name!r} nests deeper than {MAX_DEPTH} levels")
            return [convert(x, depth + 1) for x in v]
        if isinstance(v, str):
            return v.encode("utf-8")
        if isinstance(v, dict) and set(v) == {"b64"} and isinstance(v["b64"], str):
            return b64_bytes(v["b64"], name)
        raise RequestError(f"input {name!r} takes strings (binary data as {{\"b64\": ...}}), got "
                           f"{type(v).__name__ if not isinstance(v, dict) else 'an object ' + str(sorted(v))[:60]}")

    nested = convert(value, 0)
    try:
        array = np.array(nested, dtype=object)
    except ValueError:
        raise RequestError(f"input {name!r}: nested lists of unequal lengths (a tensor must be rectangular)") from None
    if array.dtype != object or any(not isinstance(v, bytes) for v in array.reshape(-1)):
        raise RequestError(f"input {name!r}: nested lists of unequal lengths (a tensor must be rectangular)")
    return array


def check_shape(array: np.ndarray, spec: InputSpec) -> None:
    if spec.shape is None:
        return
    want = "[" + ", ".join("batch" if i == 0 and d is None else ("any" if d is None else str(d))
                           for i, d in enumerate(spec.shape)) + "]"
    if array.ndim != len(spec.shape) or any(d is not None and d != n for d, n in zip(spec.shape, array.shape)):
        raise RequestError(f"input {spec.name!r} has shape {list(array.shape)}; the signature takes {want}")
    if spec.batched and array.shape[0] == 0:
        raise RequestError(f"input {spec.name!r} is empty")


def check_images(array: np.ndarray, name: str) -> None:
    """Refuse from its header what the model's image decoder would fail on or choke on: not an
    image, a format it does not decode, or a decompression bomb."""
    from PIL import Image, UnidentifiedImageError

    total = 0
    for i, data in enumerate(array.reshape(-1)):
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except Image.DecompressionBombError:
            raise RequestError(f"input {name!r} value {i}: too many pixels to decode safely") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise RequestError(f"input {name!r} value {i}: not an image (send the file's bytes base64-encoded "
                               "as {\"b64\": ...})") from None
        fmt = DECODED_AS.get(fmt, fmt)
        if fmt not in IMAGE_FORMATS:
            raise RequestError(f"input {name!r} value {i}: a {fmt} image; the model decodes "
                               f"{', '.join(IMAGE_FORMATS)}")
        if width * height > MAX_IMAGE_PIXELS:
            raise RequestError(f"input {name!r} value {i}: {width}x{height} pixels is over the "
                               f"{MAX_IMAGE_PIXELS:,} this server decodes", 413)
        total += width * height
        if total > MAX_REQUEST_PIXELS:
            raise RequestError(f"input {name!r}: the images of one request have over {MAX_REQUEST_PIXELS:,} "
                               "pixels in all; send fewer per request", 413)


def predict_response(outputs: Mapping[str, np.ndarray], rows: bool, n_rows: int | None = None) -> dict[str, Any]:
    """TF Serving's answer for `outputs` (in the signature's output order)."""
    values = {name: _json_value(np.asarray(v), name) for name, v in outputs.items()}
    if not rows:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    for name, v in outputs.items():
        if np.ndim(v) == 0 or (n_rows is not None and np.shape(v)[0] != n_rows):
            raise RequestError(f"output {name!r} is not one entry per instance; ask in the columnar format ('inputs')")
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    names = list(values)
    count = len(values[names[0]])
    return {"predictions": [{name: values[name][i] for name in names} for i in range(count)]}


def _json_value(array: np.ndarray, name: str) -> Any:
    if array.dtype == object or array.dtype.kind == "S":
        encode = (lambda b: {"b64": base64.b64encode(b).decode()}) if name.endswith("_bytes") else \
            (lambda b: b.decode("utf-8", errors="replace"))
        flat = [encode(bytes(b)) for b in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array.tolist()


def dumps(payload: Any) -> str:
    """JSON text; NaN and infinities as TF Serving writes them (NaN, Infinity)."""
    return json.dumps(payload, allow_nan=True)


def _dtype_name(dtype: np.dtype) -> str:
    return {"f": "float", "i": "integer", "u": "unsigned integer", "b": "boolean"}.get(dtype.kind, str(dtype)) + \
        (f" ({dtype.name})" if dtype.kind in "fiu" else "")

