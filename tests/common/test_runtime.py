"""The process-wide setup in `solutions.common.runtime`: oneDNN's kernels on every x86 CPU."""

import os
import platform
import subprocess
import sys

import pytest

from tests.conftest import ROOT

IS_MKL_ENABLED = ("from solutions.common.runtime import import_tensorflow; import_tensorflow(); "
                  "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())")


def _onednn_in_a_fresh_process(setting: str | None) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    result = subprocess.run([sys.executable, "-c", IS_MKL_ENABLED], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN is TensorFlow's x86 path")
def test_the_kit_runs_onednn_kernels_even_where_tensorflow_would_not():
    """TensorFlow's own default is off on AVX2-only CPUs (Eigen's convolutions, 1.2-1.4x slower to
    train here); the kit turns it on before TensorFlow is imported, and keeps a user's own choice."""
    assert _onednn_in_a_fresh_process(None) == "True"
    assert _onednn_in_a_fresh_process("0") == "False"


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN is TensorFlow's x86 path")
def test_the_test_processes_run_what_the_kit_runs():
    """conftest imports the runtime before any test module imports Keras, so the suite trains with
    the kernels a user's run has (it would otherwise take TensorFlow's default on this CPU)."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "1":
        pytest.skip("TF_ENABLE_ONEDNN_OPTS is set to something else for this session")
    from tensorflow.python.util import _pywrap_util_port as port

    assert port.IsMklEnabled()
