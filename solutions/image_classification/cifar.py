"""CIFAR's python batches read without unpickling.

The publisher ships each batch as a Python pickle of plain data (a dict of byte strings, lists of
ints and one uint8 numpy array). `pickle.load` would run whatever a planted file asks for, so the
batches are parsed here opcode by opcode (`pickletools.genops` only decodes, it executes nothing):
the few globals such data needs (numpy's array reconstruction and dtype, the bytes codec) are
interpreted as data, and any other global or opcode refuses the file.
"""

from __future__ import annotations

import pickletools
from typing import IO, Any

import numpy as np

_ARRAY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}  # protocol 5
_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}  # e.g. an np.int64 label
_DTYPE = ("numpy", "dtype")
_NDARRAY = ("numpy", "ndarray")
_ENCODE = ("_codecs", "encode")
_MARK = object()


class UnsafePickle(ValueError):
    """The stream asks for something that plain data never needs."""


class _Global:
    def __init__(self, module: str, name: str):
        if (module, name) not in _ARRAY | _FROMBUFFER | _SCALAR | {_DTYPE, _NDARRAY, _ENCODE}:
            raise UnsafePickle(f"refers to {module}.{name}")
        self.key = (module, name)


class _Array:
    """An ndarray being rebuilt: `_reconstruct(...)` makes it, BUILD gives shape, dtype and bytes."""

    value: np.ndarray | None = None


def _reduce(func: Any, args: tuple) -> Any:
    if not isinstance(func, _Global):
        raise UnsafePickle("calls something that is not a known global")
    if func.key in _ARRAY:
        return _Array()
    if func.key in _FROMBUFFER:
        buffer, dtype, shape, order = args
        if not isinstance(buffer, (bytes, bytearray)):
            raise UnsafePickle("an array buffer that is not bytes")
        return np.frombuffer(bytes(buffer), dtype=dtype).reshape(shape, order=_text(order)).copy()
    if func.key in _SCALAR:
        dtype, raw = args
        if not isinstance(dtype, np.dtype) or dtype.hasobject:
            raise UnsafePickle("a numpy scalar of an object type")
        return np.frombuffer(raw.encode("latin-1") if isinstance(raw, str) else raw, dtype=dtype)[0]
    if func.key == _DTYPE:
        return np.dtype(_text(args[0]))
    if func.key == _ENCODE:
        encoding = _text(args[1]).lower().replace("-", "") if len(args) > 1 else "utf8"
        if encoding not in ("latin1", "utf8"):
            raise UnsafePickle(f"asks for the text encoding {encoding!r}")
        return _text(args[0]).encode("latin-1" if encoding == "latin1" else "utf-8")
    raise UnsafePickle(f"calls {'.'.join(func.key)}")


def _build(obj: Any, state: Any) -> None:
    if isinstance(obj, _Array):
        _, shape, dtype, fortran, raw = state
        raw = raw.encode("latin-1") if isinstance(raw, str) else raw
        obj.value = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
    elif isinstance(obj, np.dtype):
        return  # byte order and flags of a one-byte or native dtype: nothing to apply
    else:
        raise UnsafePickle("sets the state of an object that is not an array")


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _resolve(value: Any) -> Any:
    if isinstance(value, _Array):
        if value.value is None:
            raise UnsafePickle("an array without data")
        return value.value
    if isinstance(value, dict):
        return {_resolve(k): _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v) for v in value)
    if isinstance(value, (_Global, np.dtype)):
        raise UnsafePickle("a bare global in the data")
    return value


def _pop_mark(stack: list) -> list:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1:]
            del stack[i:]
            return items
    raise UnsafePickle("MARK missing")


def load_plain_pickle(stream: IO[bytes]) -> Any:
    """The data of a pickle made only of dicts, lists, tuples, numbers, strings and numpy arrays.
    Python 2 byte strings come back as bytes (as `pickle.load(..., encoding="bytes")` gives them).
    Anything else, or a malformed stream, raises UnsafePickle."""
    try:
        return _interpret(stream)
    except UnsafePickle:
        raise
    except (RecursionError, MemoryError, AttributeError, LookupError, TypeError, KeyError, IndexError,
            ValueError, OverflowError) as exc:
        raise UnsafePickle(f"is malformed ({exc.__class__.__name__})") from None


def _interpret(stream: IO[bytes]) -> Any:
    stack: list = []
    memo: dict[int, Any] = {}
    for op, arg, _ in pickletools.genops(stream):
        name = op.name
        if name in ("PROTO", "FRAME", "READONLY_BUFFER"):
            continue
        if name == "STOP":
            if len(stack) != 1:
                raise UnsafePickle("a malformed stream")
            return _resolve(stack[0])
        if name == "MARK":
            stack.append(_MARK)
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
            stack.append({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": ()}[name])
        elif name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT",
                      "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE",
                      "SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8"):
            stack.append(arg)
        elif name in ("SHORT_BINSTRING", "BINSTRING", "STRING"):  # Python 2 str: bytes
            stack.append(arg.encode("latin-1") if isinstance(arg, str) else arg)
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo[int(arg)])
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack)))
        elif name == "LIST":
            stack.append(_pop_mark(stack))
        elif name == "DICT":
            items = _pop_mark(stack)
            stack.append(dict(zip(items[::2], items[1::2])))
        elif name == "APPEND":
            value = stack.pop()
            stack[-1].append(value)
        elif name == "APPENDS":
            items = _pop_mark(stack)
            stack[-1].extend(items)
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = _pop_mark(stack)
            stack[-1].update(zip(items[::2], items[1::2]))
        elif name == "GLOBAL":
            module, _, attr = arg.partition(" ")
            stack.append(_Global(module, attr))
        elif name == "STACK_GLOBAL":
            attr, module = stack.pop(), stack.pop()
            stack.append(_Global(module, attr))
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            stack.append(_reduce(func, args))
        elif name == "BUILD":
            state = stack.pop()
            _build(stack[-1], state)
        else:
            raise UnsafePickle(f"uses the opcode {name}")
    raise UnsafePickle("the stream ends without STOP")
