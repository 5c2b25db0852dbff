"""Process-wide setup: the Keras backend and a TensorFlow import that does not spam stderr.

TensorFlow's C++ runtime prints CUDA probing lines before its logging is configured; they would
bury the one-line errors the CLI promises, so the import runs with stderr pointed at /dev/null.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import threading
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
    """Seed Python, NumPy and the backend, make TensorFlow ops and tf.data deterministic, and pin
    the Keras settings every figure was measured with (`pin_keras_settings`), so that a run is
    reproduced bit for bit from its config.json (measured: no slower on CPU)."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    pin_keras_settings()


# What every figure was measured with; a notebook may have set others process-wide.
KERAS_SETTINGS = {"dtype_policy": "float32", "floatx": "float32", "image_data_format": "channels_last"}
# One kit job at a time per process holds the process-wide state; a nested one (an export inside a
# train) runs inside the outer one's, which alone saves and restores.
_STATE_LOCK = threading.RLock()
_depth = 0


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """Run the kit's work under `KERAS_SETTINGS` and give the calling process its own state back.

    A notebook's Keras settings are process-wide: `mixed_bfloat16` trained another model than the
    same options from the command line, and `channels_first` trained digits on mis-read images
    without an error. The other way, a run seeds Python's and NumPy's random streams, Keras' and
    TensorFlow's seeds, turns on TensorFlow's op determinism (which then refuses
    `tf.random.Generator.from_non_deterministic_state()`), and TensorFlow's export adds a
    handler to the root logger (a later `logging.basicConfig` did nothing): all of that is restored
    afterwards, also after an error or Ctrl-C. Jobs of several threads run one after the other
    (each would otherwise restore the others' state halfway through them)."""
    global _depth
    if not _STATE_LOCK.acquire(blocking=False):
        print("Waiting for the kit's job in another thread of this process to finish ...", flush=True)
        _STATE_LOCK.acquire()
    try:
        if _depth:
            _depth += 1
            try:
                yield
            finally:
                _depth -= 1
            return
        _depth = 1
        try:
            with _kept():
                yield
        finally:
            _depth = 0
    finally:
        _STATE_LOCK.release()


@contextlib.contextmanager
def _kept() -> Iterator[None]:
    import numpy as np

    tf = import_tensorflow()
    import keras
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as tf_config

    # the raw attributes: an unset dtype policy (which follows floatx) must come back unset
    keras_globals = {name: global_state.get_global_attribute(name)
                     for name in ("dtype_policy", rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)}
    saved = {"random": random.getstate(), "numpy": np.random.get_state(), "tf_seed": context.global_seed(),
             "determinism": tf_config.is_op_determinism_enabled(), "floatx": keras.config.floatx(),
             "image_data_format": keras.config.image_data_format()}
    policy = keras_globals["dtype_policy"]
    now = {"dtype_policy": policy.name if policy is not None else saved["floatx"], "floatx": saved["floatx"],
           "image_data_format": saved["image_data_format"]}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    changed = [f"{key} {now[key]}" for key, value in KERAS_SETTINGS.items() if now[key] != value]
    if changed:
        print(f"Note: this process's Keras {', '.join(changed)} set aside for the kit's work "
              f"({', '.join(f'{k} {v}' for k, v in KERAS_SETTINGS.items())}), and given back after it")
    pin_keras_settings()
    try:
        yield
    finally:
        keras.config.set_floatx(saved["floatx"])
        keras.config.set_image_data_format(saved["image_data_format"])
        for name, value in keras_globals.items():
            global_state.set_global_attribute(name, value)
        random.setstate(saved["random"])
        np.random.set_state(saved["numpy"])
        tf.random.set_seed(saved["tf_seed"])
        if not saved["determinism"]:
            tf_config.disable_op_determinism()
        root.handlers[:] = handlers
        root.setLevel(level)


def pin_keras_settings() -> None:
    """`KERAS_SETTINGS`, whatever ~/.keras/keras.json or the process set (tuning trials and
    distributed workers are processes of their own)."""
    import keras

    keras.config.set_floatx(KERAS_SETTINGS["floatx"])
    keras.config.set_dtype_policy(KERAS_SETTINGS["dtype_policy"])
    keras.config.set_image_data_format(KERAS_SETTINGS["image_data_format"])
