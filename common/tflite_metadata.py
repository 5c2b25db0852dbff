"""TFLite model metadata, written from the published schema (tensorflow/tflite-support
`metadata_schema.fbs`, file identifier "M001") so that MediaPipe Tasks and the TFLite Task Library
take a run's models as they are: names, descriptions and value ranges of every tensor, image
properties with normalization, labels and vocabularies as associated files, a regex tokenizer.

Why not a library: tflite-support has no wheels past Python 3.11; MediaPipe's metadata writers do
not import from its 1.2 wheels (a C++ module is missing) and MediaPipe brings OpenCV (~440 MB).
The kit writes the handful of tables it needs with `flatbuffers` (a TensorFlow dependency), and
the tests read them back with MediaPipe's own parser and runtime. The slot numbers below are the
field order of the schema (v1.5), which only ever appends fields. `read_metadata` reads the same
subset back (for the report) and tolerates files written by other tools.

The metadata buffer goes into the model's `metadata` list under "TFLITE_METADATA" (as the
reference MetadataPopulator does) and the associated files follow the flatbuffer as an
uncompressed zip, which interpreters ignore and MediaPipe reads.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np
from flatbuffers.table import Table

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"

# Enum and union values of metadata_schema.fbs.
_FEATURE, _IMAGE = 1, 2  # ContentProperties
_COLOR_SPACES = {"RGB": 1, "GRAYSCALE": 2}
_NORMALIZATION, _REGEX_TOKENIZER = 1, 6  # ProcessUnitOptions
FILE_TYPES = {"DESCRIPTIONS": 1, "TENSOR_AXIS_LABELS": 2, "TENSOR_VALUE_LABELS": 3, "VOCABULARY": 5}


@dataclass(frozen=True)
class AssociatedFile:
    """A file packed into the model: labels of an output axis, a vocabulary, a description."""

    name: str
    content: bytes
    description: str = ""
    type: str = "TENSOR_AXIS_LABELS"


@dataclass(frozen=True)
class TensorInfo:
    """What one input or output tensor holds, for a person and for a task runtime."""

    name: str
    description: str
    image: str | None = None  # "RGB" or "GRAYSCALE": the tensor is an image
    normalization: tuple[list[float], list[float]] | None = None  # (mean, std) per channel
    value_range: tuple[float, float] | None = None  # (min, max) of the real values
    dimension_names: tuple[str, ...] = ()
    files: tuple[AssociatedFile, ...] = ()
    regex_tokenizer: tuple[str, AssociatedFile] | None = None  # (delimiter pattern, vocabulary file)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    version: str
    author: str
    license: str = ""
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()

    def files(self) -> list[AssociatedFile]:
        found: dict[str, AssociatedFile] = {}
        for tensor in (*self.inputs, *self.outputs):
            for file in tensor.files + ((tensor.regex_tokenizer[1],) if tensor.regex_tokenizer else ()):
                if found.setdefault(file.name, file).content != file.content:
                    raise ValueError(f"two different associated files are named {file.name!r}")
        return list(found.values())

    def min_parser_version(self) -> str:
        """The oldest metadata parser that reads every member used (as the reference writer computes it)."""
        if any(t.regex_tokenizer for t in (*self.inputs, *self.outputs)):
            return "1.2.1"
        if any(f.type == "VOCABULARY" for f in self.files()):
            return "1.0.1"
        return "1.0.0"


class _Writer:
    """Tables built bottom-up with the flatbuffers Builder: children first, then their parent."""

    def __init__(self) -> None:
        self.b = flatbuffers.Builder(1024)

    def string(self, text: str | None) -> int | None:
        return self.b.CreateString(text) if text else None

    def floats(self, values: list[float]) -> int:
        self.b.StartVector(4, len(values), 4)
        for value in reversed(values):
            self.b.PrependFloat32(float(value))
        return self.b.EndVector()

    def tables(self, offsets: list[int]) -> int | None:
        if not offsets:
            return None
        self.b.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            self.b.PrependUOffsetTRelative(offset)
        return self.b.EndVector()

    def table(self, slots: int, fields: list[tuple[int, str, Any]]) -> int:
        self.b.StartObject(slots)
        for slot, kind, value in fields:
            if value is None:
                continue
            if kind == "offset":
                self.b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "uint8":
                self.b.PrependUint8Slot(slot, value, 0)
            elif kind == "int8":
                self.b.PrependInt8Slot(slot, value, 0)
        return self.b.EndObject()

    def file(self, f: AssociatedFile) -> int:
        name, description = self.string(f.name), self.string(f.description)
        return self.table(5, [(0, "offset", name), (1, "offset", description), (2, "int8", FILE_TYPES[f.type])])

    def content(self, tensor: TensorInfo) -> int:
        if tensor.image:
            properties = self.table(2, [(0, "int8", _COLOR_SPACES[tensor.image])])
            return self.table(3, [(0, "uint8", _IMAGE), (1, "offset", properties)])
        return self.table(3, [(0, "uint8", _FEATURE), (1, "offset", self.table(0, []))])

    def process_units(self, tensor: TensorInfo) -> int | None:
        units = []
        if tensor.normalization:
            mean, std = self.floats(tensor.normalization[0]), self.floats(tensor.normalization[1])
            options = self.table(2, [(0, "offset", mean), (1, "offset", std)])
            units.append(self.table(2, [(0, "uint8", _NORMALIZATION), (1, "offset", options)]))
        if tensor.regex_tokenizer:
            pattern, vocabulary = tensor.regex_tokenizer
            pattern_offset, files = self.string(pattern), self.tables([self.file(vocabulary)])
            options = self.table(2, [(0, "offset", pattern_offset), (1, "offset", files)])
            units.append(self.table(2, [(0, "uint8", _REGEX_TOKENIZER), (1, "offset", options)]))
        return self.tables(units)

    def tensor(self, tensor: TensorInfo) -> int:
        name, description = self.string(tensor.name), self.string(tensor.description)
        dims = None
        if tensor.dimension_names:
            dims = self.tables([self.b.CreateString(d) for d in tensor.dimension_names])
        content, units = self.content(tensor), self.process_units(tensor)
        stats = None
        if tensor.value_range:
            low, high = tensor.value_range
            stats = self.table(2, [(0, "offset", self.floats([high])), (1, "offset", self.floats([low]))])
        files = self.tables([self.file(f) for f in tensor.files])
        return self.table(7, [(0, "offset", name), (1, "offset", description), (2, "offset", dims),
                              (3, "offset", content), (4, "offset", units), (5, "offset", stats),
                              (6, "offset", files)])

    def model(self, info: ModelInfo) -> bytes:
        inputs = self.tables([self.tensor(t) for t in info.inputs])
        outputs = self.tables([self.tensor(t) for t in info.outputs])
        subgraph = self.table(10, [(2, "offset", inputs), (3, "offset", outputs)])
        subgraphs = self.tables([subgraph])
        name, description, version = self.string(info.name), self.string(info.description), self.string(info.version)
        author, license_, parser = self.string(info.author), self.string(info.license), self.string(info.min_parser_version())
        root = self.table(8, [(0, "offset", name), (1, "offset", description), (2, "offset", version),
                              (3, "offset", subgraphs), (4, "offset", author), (5, "offset", license_),
                              (7, "offset", parser)])
        self.b.Finish(root, IDENTIFIER)
        return bytes(self.b.Output())


def metadata_buffer(info: ModelInfo) -> bytes:
    """The metadata flatbuffer ("M001") for `info`."""
    return _Writer().model(info)


def with_metadata(tflite: bytes, info: ModelInfo) -> bytes:
    """`tflite` carrying `info`: the metadata buffer in the model, then its associated files.

    The input and output tensor lists must match the model's in length (task runtimes pair them
    by position); a model that already has metadata gets it replaced.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(tflite, 0))
    graph = model.subgraphs[0]
    if (len(graph.inputs), len(graph.outputs)) != (len(info.inputs), len(info.outputs)):
        raise ValueError(f"metadata describes {len(info.inputs)} inputs and {len(info.outputs)} outputs; "
                         f"the model has {len(graph.inputs)} and {len(graph.outputs)}")
    data = np.frombuffer(metadata_buffer(info), np.uint8)
    existing = [m for m in (model.metadata or []) if _name(m.name) == METADATA_NAME]
    if existing:  # replaced in place: no orphan buffer grows the file
        model.buffers[existing[0].buffer].data = data
    else:
        buffer = schema.BufferT()
        buffer.data = data
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
        model.metadata = (model.metadata or []) + [entry]
    builder = flatbuffers.Builder(len(tflite) + 4096)
    builder.Finish(model.Pack(builder), b"TFL3")
    out = io.BytesIO(bytes(builder.Output()))
    files = info.files()
    if files:
        out.seek(0, io.SEEK_END)
        with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
            for file in files:
                archive.writestr(file.name, file.content)
    return out.getvalue()


def _name(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


# --- reading back (the report and the kit's own checks) ----------------------------------------
def _field(table: Table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _str(table: Table, slot: int) -> str | None:
    offset = _field(table, slot)
    return table.String(offset + table.Pos).decode() if offset else None


def _sub(table: Table, slot: int) -> Table | None:
    offset = _field(table, slot)
    return Table(table.Bytes, table.Indirect(offset + table.Pos)) if offset else None


def _subs(table: Table, slot: int) -> list[Table]:
    offset = _field(table, slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(offset))]


def _strings(table: Table, slot: int) -> list[str]:
    offset = _field(table, slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [table.String(start + 4 * i).decode() for i in range(table.VectorLen(offset))]


def _floats(table: Table, slot: int) -> list[float]:
    offset = _field(table, slot)
    if not offset:
        return []
    return [float(v) for v in table.GetVectorAsNumpy(flatbuffers.number_types.Float32Flags, offset)]


def _byte(table: Table, slot: int, flags=flatbuffers.number_types.Uint8Flags) -> int:
    offset = _field(table, slot)
    return int(table.Get(flags, offset + table.Pos)) if offset else 0


def _read_file(table: Table) -> dict[str, Any]:
    kind = _byte(table, 2, flatbuffers.number_types.Int8Flags)
    return {"name": _str(table, 0), "type": next((k for k, v in FILE_TYPES.items() if v == kind), str(kind))}


def _read_tensor(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {"name": _str(table, 0), "description": _str(table, 1)}
    if _strings(table, 2):
        out["dimension_names"] = _strings(table, 2)
    content = _sub(table, 3)
    properties = _sub(content, 1) if content is not None else None
    if properties is not None and _byte(content, 0) == _IMAGE:
        space = _byte(properties, 0, flatbuffers.number_types.Int8Flags)
        out["image"] = next((k for k, v in _COLOR_SPACES.items() if v == space), "UNKNOWN")
    for unit in _subs(table, 4):
        options = _sub(unit, 1)
        if options is None:
            continue
        if _byte(unit, 0) == _NORMALIZATION:
            out["normalization"] = {"mean": _floats(options, 0), "std": _floats(options, 1)}
        elif _byte(unit, 0) == _REGEX_TOKENIZER:
            out["regex_tokenizer"] = {"pattern": _str(options, 0),
                                      "vocabulary": [_read_file(f)["name"] for f in _subs(options, 1)]}
    stats = _sub(table, 5)
    if stats is not None:
        out["range"] = [*_floats(stats, 1), *_floats(stats, 0)]
    if _subs(table, 6):
        out["files"] = [_read_file(f) for f in _subs(table, 6)]
    return out


def read_metadata(tflite: bytes) -> dict[str, Any] | None:
    """The metadata a .tflite carries, as plain data (None when it has none), with the contents
    of its associated files under "files"."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(tflite, 0)
    for i in range(model.MetadataLength()):
        if _name(model.Metadata(i).Name()) == METADATA_NAME:
            data = model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes()
            break
    else:
        return None
    if data[4:8] != IDENTIFIER:
        raise ValueError("the model's TFLITE_METADATA buffer is not metadata (identifier M001)")
    root = Table(data, flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0))
    graphs = _subs(root, 3)
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(tflite)) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        pass
    return {
        "name": _str(root, 0), "description": _str(root, 1), "version": _str(root, 2),
        "author": _str(root, 4), "license": _str(root, 5), "min_parser_version": _str(root, 7),
        "inputs": [_read_tensor(t) for t in _subs(graphs[0], 2)] if graphs else [],
        "outputs": [_read_tensor(t) for t in _subs(graphs[0], 3)] if graphs else [],
        "files": files,
    }
