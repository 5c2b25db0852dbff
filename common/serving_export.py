"""A run as a TensorFlow Serving model base directory: `<run>/serving/<name>/<version>/`.

TF Serving (and any server of its API) loads the highest numbered version under a base path. Its
`serving_default` signature takes what a client has (encoded image bytes, raw text, the data's
user and item ids, a feature window), not what the Keras model takes; the signatures the run's
`saved_model/` has keep their names beside it, and each domain adds one that post-processes
(class labels under the run's decision rule, item titles, the forecast's interval). A domain
describes them with the `serving_model` hook; this module writes, reloads and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from solutions.common.errors import UserError
from solutions.common.files import replace_directory
from solutions.common.runtime import import_tensorflow, stderr_silenced
from solutions.common.serving_rest import InputSpec, dumps, parse_json, predict_inputs

tf = import_tensorflow()

SERVING_DIR = "serving"
VERSION = 1
DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class Endpoint:
    """One signature: its name, a function of named tensors returning a dict of named outputs,
    and its inputs (the TensorSpec names are the JSON keys clients use)."""

    name: str
    function: Callable[..., dict]
    inputs: tuple  # of tf.TensorSpec


@dataclass(frozen=True)
class ServingModel:
    """What a domain serves: its signatures (the first is `serving_default`), what they use that
    must be saved (Keras models, lookup tables), and the test split as a client sends it."""

    endpoints: tuple[Endpoint, ...]
    track: tuple = ()
    instances: list = field(default_factory=list)  # the test split, JSON rows for serving_default


def serving_name(solution) -> str:
    """The model name in URLs and the base directory: the domain, as TF Serving names go."""
    return solution.name.replace("-", "_")


def serving_path(run_path: Path, name: str) -> Path:
    return Path(run_path) / SERVING_DIR / name / str(VERSION)


def write_serving(served: ServingModel, path: Path) -> Path:
    """Write the SavedModel with every endpoint as a signature of its name (the first is also
    `serving_default`), atomically: a failed or killed export leaves the previous one."""
    import keras

    archive = keras.export.ExportArchive()
    for item in served.track:
        archive.track(item)  # Keras models, and lookup tables (not found through the models)
    for endpoint in served.endpoints:  # Keras makes the first one serving_default unless one is named so
        archive.add_endpoint(endpoint.name, endpoint.function, input_signature=list(endpoint.inputs))
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(target: Path) -> None:
        with stderr_silenced():
            archive.write_out(str(target), verbose=False)

    return replace_directory(path, write)


def signature_inputs(function) -> list[InputSpec]:
    """A loaded signature's inputs in the order its JSON rows name them."""
    specs = function.structured_input_signature[1]
    result = []
    for name, spec in sorted(specs.items()):
        dtype = np.dtype(object) if spec.dtype == tf.string else np.dtype(spec.dtype.as_numpy_dtype)
        shape = None if spec.shape.rank is None else tuple(spec.shape.as_list())
        result.append(InputSpec(name, dtype, shape))
    return result


def signature_outputs(function) -> list[str]:
    return list(function.structured_outputs)


class LoadedServable:
    """A serving directory loaded with `tf.saved_model.load`, as TF Serving loads it."""

    def __init__(self, path: Path):
        if not (Path(path) / "saved_model.pb").exists():
            raise UserError(f"{path} holds no saved_model.pb")
        with stderr_silenced():
            self.loaded = tf.saved_model.load(str(path))
        self.path = Path(path)
        self.signatures = dict(self.loaded.signatures)
        self.inputs = {name: signature_inputs(f) for name, f in self.signatures.items()}
        self.outputs = {name: signature_outputs(f) for name, f in self.signatures.items()}

    def call(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        function = self.signatures[signature]
        tensors = {name: tf.constant(value.tolist() if value.dtype == object else value,
                                     dtype=function.structured_input_signature[1][name].dtype)
                   for name, value in inputs.items()}
        out = function(**tensors)
        return {name: out[name].numpy() for name in self.outputs[signature]}

    def predict_json(self, body: bytes | str, signature: str = DEFAULT_SIGNATURE) -> dict[str, Any]:
        """The REST answer for a request body, without HTTP (what the export check runs)."""
        from solutions.common.serving_rest import predict_response

        request = parse_json(body.encode() if isinstance(body, str) else body)
        inputs, rows = predict_inputs(request, self.inputs[signature])
        return predict_response(self.call(signature, inputs), rows)

    def metadata(self) -> dict[str, Any]:
        """`GET /v1/models/<name>/metadata`'s `signature_def` part, from saved_model.pb."""
        from google.protobuf import json_format
        from tensorflow.core.protobuf import saved_model_pb2

        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((self.path / "saved_model.pb").read_bytes())
        graph = proto.meta_graphs[0]
        defs = {key: json_format.MessageToDict(sig, always_print_fields_with_no_presence=True,
                                               preserving_proto_field_name=True)
                for key, sig in graph.signature_def.items() if not key.startswith("__")}
        return {"signature_def": {"signature_def": defs}}


def check_serving(servable: "LoadedServable", instances: list, reference: np.ndarray, chunk: int = 64
                  ) -> tuple[np.ndarray, float]:
    """serving_default's answers for the test split sent as JSON rows, and one request's
    latency in ms; the answers are compared with the Keras model's (`reference`) by the caller."""
    from solutions.common.export import median_latency_ms

    outputs = []
    for start in range(0, len(instances), chunk):
        body = dumps({"instances": instances[start:start + chunk]})
        outputs.append(np.asarray(servable.predict_json(body)["predictions"], dtype=np.float32))
    one = dumps({"instances": instances[:1]})
    latency = median_latency_ms(lambda: servable.predict_json(one), repeats=20)
    out = np.concatenate(outputs).reshape(np.shape(reference))
    return out, latency


def model_spec(model, batch: int | None = None):
    """The TensorSpec of a Keras model's one input, named as the model names it."""
    return tf.TensorSpec((batch, *model.input_shape[1:]), model.inputs[0].dtype, name=model.inputs[0].name)


def model_endpoint(model, name: str, output: str) -> Endpoint:
    """The Keras model on its own input, its output named `output`."""
    return Endpoint(name, lambda x: {output: model(x, training=False)}, (model_spec(model),))


# The EXIF orientation tag is found by walking an encoded image's headers: a JPEG's segments to
# its APP1 "Exif" block, a PNG's chunks before its pixels (IDAT) to its eXIf chunk, as the PNG
# standard places it and as the kit's reader takes it (GIF and BMP have no EXIF). A tag more than
# EXIF_MAX_SEGMENTS steps in (segments, chunks, stray bytes), or beyond IFD0's first
# EXIF_MAX_ENTRIES entries, is not read: cameras write EXIF first, and a few dozen entries.
EXIF_MAX_SEGMENTS = 64
EXIF_MAX_ENTRIES = 128


@tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
def exif_orientations(encoded):
    """The EXIF orientation (1-8) of each encoded image of a batch, read in the graph as Pillow reads
    it for the kit's training files (`image_io.exif_turn`); 1 without a readable tag. TF's decoders
    ignore the tag, so without this a phone's portrait photo would reach the model sideways. The
    whole batch is read at once, a few bytes at each header: no copy of the pixels."""
    length = tf.cast(tf.strings.length(encoded), tf.int64)

    def read(at, n):
        """The `n` bytes of each file from its position `at` ([batch]), [batch, n]; past the end, 0."""
        position = tf.clip_by_value(at, 0, length)
        piece = tf.strings.substr(encoded, position, tf.ones_like(position) * n)
        return tf.cast(tf.io.decode_raw(piece, tf.uint8, fixed_length=n), tf.int64)

    def match(window, pattern):  # None matches any byte
        return tf.reduce_all([window[..., j] == b for j, b in enumerate(pattern) if b is not None], axis=0)

    def big(window):
        return tf.reduce_sum(window * 256 ** tf.range(window.shape[-1] - 1, -1, -1, dtype=tf.int64), -1)

    def walk(at, alive, step, tiff, found):
        """Follows each file's headers from `at` while it is `alive` (stopping early once every file
        is found or dead); `step(at, alive)` -> (next at, alive, hit, where the TIFF data starts)."""
        def body(i, at, alive, tiff, found):
            at, alive, hit, where = step(at, alive)
            hit = tf.logical_and(hit, alive)
            return i + 1, at, tf.logical_and(alive, tf.logical_not(hit)), tf.where(hit, where, tiff), \
                tf.logical_or(found, hit)

        def more(i, at, alive, tiff, found):
            return tf.logical_and(i < EXIF_MAX_SEGMENTS, tf.reduce_any(alive))

        return tf.while_loop(more, body, (tf.constant(0), at, alive, tiff, found))[3:]

    def jpeg_segment(at, alive):  # FF xx <big-endian length, itself included>; the headers end at SOS (FF DA)
        window = read(at, 10)
        alive = tf.logical_and(tf.logical_and(alive, at < length), tf.logical_not(match(window, [0xFF, 0xDA])))
        marker = window[:, 0] == 0xFF
        step = tf.logical_or(tf.logical_not(marker), window[:, 1] == 0xFF)  # a stray or fill byte: step over it
        return (tf.where(step, at + 1, at + 2 + big(window[:, 2:4])), alive,
                match(window, [0xFF, 0xE1, None, None, *b"Exif\0\0"]), at + 10)

    def png_chunk(at, alive):  # <big-endian length> <type> <data> <crc>, up to the pixels (IDAT)
        window = read(at, 8)
        alive = tf.logical_and(tf.logical_and(alive, at < length), tf.logical_not(match(window[:, 4:], b"IDAT")))
        return at + 12 + big(window[:, :4]), alive, match(window[:, 4:], b"eXIf"), at + 8

    zero = tf.zeros(tf.shape(encoded), tf.int64)
    start = read(zero, 8)
    tiff, found = walk(zero + 2, match(start, b"\xff\xd8"), jpeg_segment, zero, tf.zeros(tf.shape(encoded), tf.bool))
    tiff, found = walk(zero + 8, match(start, b"\x89PNG\r\n\x1a\n"), png_chunk, tiff, found)
    tiff = tiff + 6 * tf.cast(match(read(tiff, 6), b"Exif\0\0"), tf.int64)  # a (second) prefix, as Pillow skips

    header = read(tiff, 8)  # "II" (little-endian) or "MM", 42, the offset of IFD0
    little = match(header, b"II")
    found = tf.logical_and(found, tf.logical_or(little, match(header, b"MM")))

    def number(window):  # an unsigned integer in the file's byte order
        order = tf.reshape(little, [-1] + [1] * (len(window.shape) - 2))
        return tf.where(order, big(tf.reverse(window, [-1])), big(window))

    found = tf.logical_and(found, number(header[:, 2:4]) == 42)
    ifd = tiff + number(header[:, 4:])
    table = read(ifd, 2 + 12 * EXIF_MAX_ENTRIES)
    entry = tf.reshape(table[:, 2:], [-1, EXIF_MAX_ENTRIES, 12])  # tag, type, count, value
    index = tf.range(EXIF_MAX_ENTRIES, dtype=tf.int64)
    is_tag = tf.logical_and(index[None, :] < number(table[:, :2])[:, None], number(entry[..., 0:2]) == 0x0112)
    first = tf.gather(entry, tf.argmax(tf.cast(is_tag, tf.int32), axis=1, output_type=tf.int64), batch_dims=1)
    kind, count = number(first[:, 2:4]), number(first[:, 4:8])  # the first orientation entry, as Pillow takes it
    short = tf.logical_and(tf.logical_or(kind == 3, kind == 8), tf.logical_or(count == 1, count == 2))  # (S)SHORT
    wide = tf.logical_and(tf.logical_or(kind == 4, kind == 9), count == 1)  # (S)LONG
    orientation = tf.where(short, number(first[:, 8:10]), number(first[:, 8:12]))
    found = tf.logical_and(found, tf.reduce_any(is_tag, axis=1))
    found = tf.logical_and(found, tf.logical_and(tf.logical_or(short, wide), tf.logical_and(orientation >= 1, orientation <= 8)))
    return tf.cast(tf.where(found, orientation, tf.ones_like(orientation)), tf.int32)


def upright(image, orientation):
    """[H, W, C] pixels turned as EXIF `orientation` (1-8) says, as Pillow's transposes do."""
    swapped = lambda: tf.transpose(image, [1, 0, 2])  # noqa: E731
    return tf.switch_case(orientation - 1, [
        lambda: image,
        lambda: tf.reverse(image, [1]),  # 2: mirrored
        lambda: tf.reverse(image, [0, 1]),  # 3: upside down
        lambda: tf.reverse(image, [0]),  # 4: flipped
        swapped,  # 5: transposed
        lambda: tf.reverse(swapped(), [1]),  # 6: stored a quarter turn anticlockwise
        lambda: tf.reverse(swapped(), [0, 1]),  # 7: transverse
        lambda: tf.reverse(swapped(), [0]),  # 8: stored a quarter turn clockwise
    ])


# `tf.io.decode_image` also decodes WebP and JPEG XL, and TensorFlow 2.21's WebP decoder corrupts
# the heap on a valid animated WebP ("free(): corrupted unsorted chunks" at the first decode;
# measured here): one request could bring a TF Serving process down. So the signature lets only
# the formats it promises reach a decoder, by their first bytes as TensorFlow itself tells them.
DECODED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
NOT_DECODED = ("not a PNG, JPEG, GIF or BMP image: this signature decodes those only (WebP and JPEG XL are "
               "refused before any decoder runs: TensorFlow's WebP decoder corrupts memory on animated WebP)")


def decode_images(data, height: int, width: int, channels: int):
    """Encoded images (PNG, JPEG, GIF, BMP bytes; others refused) -> float32 pixels 0-255 at the
    model's size, as the kit reads files for training (`common/image_io.py`): turned upright by
    their EXIF orientation, color made gray with Pillow's integer luma (`convert("L")`), alpha
    dropped, resized bilinearly with antialiasing unless already at the size. Two images are
    decoded at a time, which bounds the memory a request of big photos takes."""

    def gray(image):
        rgb = tf.cast(image[..., :3], tf.int32)
        luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) // 65536
        return tf.cast(luma[..., None], tf.uint8)

    def one(args):
        encoded, orientation = args
        head = tf.io.decode_raw(tf.strings.substr(encoded, 0, 8), tf.uint8, fixed_length=8)
        known = tf.reduce_any([tf.reduce_all(head[:len(magic)] == tf.constant(list(magic), tf.uint8))
                               for magic in DECODED_MAGIC])
        refused = tf.debugging.Assert(known, [NOT_DECODED])
        with tf.control_dependencies([refused]):
            image = tf.io.decode_image(encoded, channels=0, expand_animations=False)  # the file's own channels
        found = tf.shape(image)[-1]
        if channels == 1:
            image = tf.cond(found >= 3, lambda: gray(image), lambda: image[..., :1])
        else:
            image = tf.cond(found >= 3, lambda: image[..., :3], lambda: tf.image.grayscale_to_rgb(image[..., :1]))
        # resized as stored (to the swapped size for a quarter turn), then turned: a portrait photo
        # costs a turn of the small image, not of its megapixels (resizing and turning commute)
        size = tf.where(orientation >= 5, [width, height], [height, width])
        same = tf.reduce_all(tf.shape(image)[:2] == size)
        image = tf.cond(same, lambda: tf.cast(image, tf.float32),
                        lambda: tf.image.resize(image, size, method="bilinear", antialias=True))
        return tf.ensure_shape(upright(image, orientation), [height, width, channels])

    return tf.map_fn(one, (data, exif_orientations(data)),
                     fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32),
                     parallel_iterations=2)


def png_instances(pixels: np.ndarray) -> list[dict[str, str]]:
    """Images as a client sends them: PNG files, base64 in {"b64": ...} (lossless, so the server
    decodes exactly these pixels)."""
    import base64
    import io

    from PIL import Image

    rows = []
    for image in np.clip(np.round(pixels), 0, 255).astype(np.uint8):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
        rows.append({"b64": base64.b64encode(buffer.getvalue()).decode()})
    return rows


def label_outputs(probabilities, class_names: Sequence[str], threshold: float | None = None) -> dict:
    """Post-processing for classifiers: the label under the run's decision rule (arg-max, or for a
    binary screen `p(class 1) >= threshold`), its probability, and every class's."""
    labels = tf.constant(list(class_names))
    if threshold is None:
        index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    else:
        index = tf.cast(probabilities[:, 1] >= threshold, tf.int32)
    return {"label": tf.gather(labels, index), "label_index": index,
            "probability": tf.gather(probabilities, index, batch_dims=1), "probabilities": probabilities}


def describe(servable: "LoadedServable") -> dict[str, Any]:
    """Each signature's inputs and outputs (for the report)."""
    return {name: {"inputs": {s.name: [None if d is None else d for d in (s.shape or ())] for s in specs},
                   "outputs": servable.outputs[name]}
            for name, specs in sorted(servable.inputs.items())}
