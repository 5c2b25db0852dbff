"""Row lookups of user and item tables that never answer for another user or item.

`keras.ops.take` (and `keras.layers.Embedding`) wrap a negative index as NumPy does (-1 is the last
user), and a converted TFLite file keeps that: an app whose id map answers -1 for an unknown id
(`List.indexOf`) would get the last user's recommendations. A negative index is sent past the end
instead, where TFLite's GATHER and TensorFlow's on a CPU raise ("index out of bounds") and JAX
fills NaN, as for any index >= n. A GPU's gather answers zeros and XLA clamps to the last row:
there only the SavedModel signatures' range checks (export.py `in_range`) refuse it.
"""

from __future__ import annotations

from keras import ops


def negative_past_end(indices, n):
    """`indices` with every negative one replaced by n (out of range, not a row counted from the end)."""
    return ops.where(indices < 0, ops.cast(n, indices.dtype), indices)


def lookup(table, indices):
    """table[indices] along axis 0; an index outside 0..n-1 is an error (or NaN), never a row."""
    return ops.take(table, negative_past_end(indices, ops.shape(table)[0]), axis=0)
