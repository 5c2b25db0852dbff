"""Process-wide setup: the Keras backend and a TensorFlow import that does not spam stderr.

TensorFlow's C++ runtime prints CUDA probing lines before its logging is configured; they would
bury the one-line errors the CLI promises, so the import runs with stderr pointed at /dev/null.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Level 3: TensorFlow's C++ runtime logs harmless "errors" during tf.data graph setup (NodeDef
# attribute notices); real failures still surface as Python exceptions. Set it lower to debug.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def avx2_without_avx512(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """True on an x86 CPU with AVX2 and no AVX-512, from /proc/cpuinfo's flags; False where they
    cannot be read (not Linux) or say otherwise."""
    try:
        with open(cpuinfo_path, encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.partition(":")[2].split())
                    return "avx2" in flags and "avx512f" not in flags
    except OSError:
        pass
    return False


# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI or BF16, AVX-VNNI or
# AMX; an AVX2-only CPU (most laptops, AMD EPYC before Zen 4) gets Eigen's convolutions, whose
# backward passes took 3.5-4.4x the forward pass here; with oneDNN the residual CNN trains 1.2-1.4x
# faster on a 2-core AVX2 EPYC. Only there: oneDNN's AVX-512 kernels are where the native crashes
# of distributed training were seen (AVX2 avoided them), so an AVX-512 CPU keeps TensorFlow's own choice.
# Read once, at TensorFlow's import, so it is set here, before anything imports TensorFlow; a user's
# own TF_ENABLE_ONEDNN_OPTS (or legacy TF_DISABLE_MKL=1) is kept.
if avx2_without_avx512() and os.environ.get("TF_DISABLE_MKL") != "1":
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null (C++ writes bypass sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Import TensorFlow (and Keras on top of it) once, quietly."""
    if "tensorflow" not in sys.modules:
        with stderr_silenced():
            import tensorflow

            tensorflow.config.list_physical_devices()  # the CUDA probe logs here, not on first use
            import keras  # noqa: F401

            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and the backend, and make TensorFlow ops and tf.data deterministic, so
    that a run is reproduced bit for bit from its config.json (measured: no slower on CPU)."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
