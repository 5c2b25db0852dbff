"""Shared fixtures. The data directory defaults to ../shared/datasets (real copies of the datasets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Before any test module imports Keras: the test processes get the process-wide setup (Keras
# backend, oneDNN on AVX2-only CPUs) that the kit's own processes get.
import solutions.common.runtime  # noqa: F401,E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("SOLUTIONS_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))

def require_data(relpath: str) -> Path:
    """A real dataset file under the data directory, or skip the test saying which file is missing:
    a fresh clone has no ../shared beside it and no network, and everything else must still run."""
    path = Path(os.environ["SOLUTIONS_DATA_DIR"]) / relpath
    if not path.exists():
        pytest.skip(f"needs the real dataset file {path}, which is not here (offline); "
                    "point SOLUTIONS_DATA_DIR at a copy to run it")
    return path


FAST = dict(epochs=2, batch_size=64, learning_rate=3e-3, patience=10, seed=0, val_split=0.15, test_split=0.15,
            data_dir=None, image_size=16, augment="light", flip=None, model="resnet", width=8, depth=1,
            dropout=0.1, weights="none", quantize="int8", no_export=False)


@pytest.fixture
def fast_options(tmp_path):
    """Options for a seconds-long image-classification run into a temporary directory."""
    return {**FAST, "dataset": "digits", "data": None, "output": str(tmp_path / "run")}


def write_digit_pngs(root: Path, per_class: int = 12, classes: int = 3) -> Path:
    """Real scikit-learn digits written as 8x8 PNG files, one sub-folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(classes):
        folder = root / f"digit_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        images = digits.images[digits.target == label][:per_class]
        for i, img in enumerate(images):
            Image.fromarray(np.round(img * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    return root


def with_exif_orientation(pixels: np.ndarray, fmt: str, orientation: int, endian: str = "MM",
                          kind: int = 3, prefix: bytes = b"Exif\0\0") -> bytes:
    """`pixels` encoded as `fmt` (JPEG or PNG) with an EXIF block whose IFD0 holds a made-up tag
    and then the orientation tag (type `kind`: 3 SHORT, 4 LONG), in byte order `endian` ("II"
    little, "MM" big), as cameras and phones write it. `prefix` goes before the TIFF data (Pillow
    writes it into a JPEG's APP1 and drops one from a PNG's eXIf)."""
    import io
    import struct

    from PIL import Image

    order = "<" if endian == "II" else ">"
    value = struct.pack(order + ("HH" if kind == 3 else "I"), orientation, *((0,) if kind == 3 else ()))
    entries = struct.pack(order + "HHI4s", 0x010F, 2, 4, b"Cam\0") + struct.pack(order + "HHI", 0x0112, kind, 1) + value
    tiff = endian.encode() + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 2) + entries + b"\0" * 4
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, exif=prefix + tiff)
    return buffer.getvalue()


@pytest.fixture
def digit_folder(tmp_path):
    return write_digit_pngs(tmp_path / "digits_png")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One small finished run shared by the evaluate/predict/export tests."""
    from solutions.common.solution import get_solution
    from solutions.common.workflow import train

    out = tmp_path_factory.mktemp("shared") / "run"
    options = {**FAST, "dataset": "digits", "data": None, "output": str(out)}
    return train(get_solution("image-classification"), options)


def run_cli(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """`python -m solutions ...` in a fresh process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "solutions", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def train_default_run(out: Path, domain: str, *args: str) -> tuple[dict, float]:
    """`solutions train <domain> [args]` in a fresh process; the run's metrics.json and the wall time."""
    import json
    import time

    start = time.perf_counter()
    result = run_cli("train", domain, *args, "--output", str(out))
    wall = time.perf_counter() - start
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    print(f"wall {wall:.0f} s; test {metrics['test']}")
    return metrics, wall


def tiny_image_classifier(channels: int, name: str = "pixels"):
    """A small 8x8 image classifier (3 classes) on raw pixels, seeded: for export tests."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, channels), name=name)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
