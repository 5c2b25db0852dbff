"""The process-wide setup in `solutions.common.runtime`: oneDNN's kernels on AVX2-only CPUs, and
TensorFlow's own choice everywhere else (oneDNN's AVX-512 kernels are where native crashes were seen)."""

import os
import subprocess
import sys

import pytest

from solutions.common.runtime import avx2_without_avx512
from tests.conftest import ROOT

KIT = "from solutions.common.runtime import import_tensorflow; import_tensorflow(); "
PLAIN = "import tensorflow; "
IS_MKL_ENABLED = "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())"
AVX2_ONLY = avx2_without_avx512()


def _onednn_in_a_fresh_process(setting: str | None, prefix: str = KIT) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    result = subprocess.run([sys.executable, "-c", prefix + IS_MKL_ENABLED], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx avx2 fma", True),                    # Zen 1-3, Haswell-Skylake client
    ("fpu sse2 avx avx2 avx512f avx512bw", False),      # Skylake-SP (no VNNI: TensorFlow picks Eigen)
    ("fpu sse2 avx avx2 avx512f avx512_vnni", False),   # Zen 4, Cascade Lake (TensorFlow picks oneDNN)
    ("fpu sse2 avx", False),
])
def test_only_avx2_without_avx512_is_recognised(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert avx2_without_avx512(str(cpuinfo)) is expected
    assert avx2_without_avx512(str(tmp_path / "missing")) is False  # not Linux: TensorFlow's choice


@pytest.mark.skipif(not AVX2_ONLY, reason="this CPU is not AVX2-only")
def test_an_avx2_only_cpu_runs_onednn_kernels():
    """TensorFlow's own default is off on such CPUs (Eigen's convolutions, 1.2-1.4x slower to train
    here); the kit turns it on before TensorFlow is imported, and keeps a user's own choice."""
    assert _onednn_in_a_fresh_process(None, PLAIN) == "False"  # what TensorFlow alone does here
    assert _onednn_in_a_fresh_process(None) == "True"
    assert _onednn_in_a_fresh_process("0") == "False"


@pytest.mark.skipif(AVX2_ONLY, reason="this CPU is AVX2-only")
def test_other_cpus_keep_tensorflow_s_choice():
    """AVX-512 CPUs (and CPUs whose flags cannot be read) run what TensorFlow picks by itself."""
    assert _onednn_in_a_fresh_process(None) == _onednn_in_a_fresh_process(None, PLAIN)


@pytest.mark.skipif(not AVX2_ONLY, reason="this CPU is not AVX2-only")
def test_the_test_processes_run_what_the_kit_runs():
    """conftest imports the runtime before any test module imports Keras, so the suite trains with
    the kernels a user's run has (it would otherwise take TensorFlow's default on this CPU)."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "1":
        pytest.skip("TF_ENABLE_ONEDNN_OPTS is set to something else for this session")
    from tensorflow.python.util import _pywrap_util_port as port

    assert port.IsMklEnabled()


CALLER_STATE = """
import logging, random
import numpy as np
from solutions.common.runtime import caller_state_kept, import_tensorflow, make_deterministic
tf = import_tensorflow()
import keras
from tensorflow.python.framework import config as tf_config

np.random.seed(123); random.seed(7)
expected = (np.random.rand(), random.random())
np.random.seed(123); random.seed(7)
keras.config.set_dtype_policy("mixed_bfloat16"); keras.config.set_image_data_format("channels_first")
handlers = list(logging.getLogger().handlers)
try:
    with caller_state_kept():
        assert keras.config.dtype_policy().name == "float32", keras.config.dtype_policy()
        assert keras.config.image_data_format() == "channels_last" and keras.config.floatx() == "float32"
        make_deterministic(42)  # what a run does: every seed, op determinism
        logging.warning("x")  # a root-level call configures the root logger, as TensorFlow's export did
        raise KeyboardInterrupt
except KeyboardInterrupt:
    pass
assert (np.random.rand(), random.random()) == expected, "the caller's random streams were reseeded"
assert keras.config.dtype_policy().name == "mixed_bfloat16" and keras.config.image_data_format() == "channels_first"
assert not tf_config.is_op_determinism_enabled()
tf.random.Generator.from_non_deterministic_state()  # refused while op determinism is on
assert logging.getLogger().handlers == handlers
print("kept")
"""


def test_the_kit_s_work_gives_a_notebook_its_state_back():
    """In one long-lived process (a notebook): a run pins the Keras settings every figure was measured
    with, and afterwards, also after Ctrl-C, the caller's random streams, Keras settings, op
    determinism and root logger are as they were."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CALLER_STATE], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "kept"
    assert "set aside for the kit's work" in result.stdout  # the caller is told


NESTED_AND_THREADS = """
import threading, random
import numpy as np
from solutions.common.runtime import caller_state_kept, import_tensorflow, make_deterministic
tf = import_tensorflow()
import keras
from keras.src.backend.common import global_state
from tensorflow.python.framework import config as tf_config

assert global_state.get_global_attribute("dtype_policy") is None  # unset: it follows floatx
np.random.seed(5)
expected = np.random.rand()
np.random.seed(5)
order = []

def job(name):
    with caller_state_kept():
        order.append(name + " in")
        with caller_state_kept():  # an export inside a train: the outer call restores
            make_deterministic(1)
        assert tf_config.is_op_determinism_enabled(), "the inner call restored the outer's state"
        order.append(name + " out")

threads = [threading.Thread(target=job, args=(n,)) for n in "ab"]
for t in threads: t.start()
for t in threads: t.join()
assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"]), order
assert not tf_config.is_op_determinism_enabled() and np.random.rand() == expected
assert global_state.get_global_attribute("dtype_policy") is None, "an unset policy came back set"
keras.config.set_floatx("float16")
assert keras.layers.Dense(1).dtype_policy.name == "float16"  # still follows floatx
print("kept")
"""


def test_kit_jobs_of_several_threads_run_one_after_the_other_and_nest():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", NESTED_AND_THREADS], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "kept"
