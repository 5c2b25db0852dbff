"""Named datasets are read from the publisher's file formats in the data directory."""

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.image_classification.data import load_dataset

OPTS = dict(val_split=0.2, test_split=0.15, seed=0)


@pytest.fixture
def synthetic_files(monkeypatch):
    """These tests plant small files in the publishers' formats; the real checksums (checked on
    every read) would refuse them, as tests/solutions/image_classification/test_cifar.py shows."""
    from dataclasses import replace

    import solutions.image_classification.data as data

    monkeypatch.setattr(data, "MNIST", replace(data.MNIST, verify_on_read=False))
    monkeypatch.setattr(data, "CIFAR10", replace(data.CIFAR10, verify_on_read=False))
    monkeypatch.setattr(data, "FASHION", {k: replace(v, verify_on_read=False) for k, v in data.FASHION.items()})


def test_digits_split_is_seeded_and_scaled():
    splits = load_dataset("digits", {**OPTS, "data_dir": None})
    assert sum(splits.sizes().values()) == 1797
    assert splits.train.x.dtype == np.uint8 and splits.train.x.max() == 255 and splits.train.x.shape[1:] == (8, 8, 1)
    again = load_dataset("digits", {**OPTS, "data_dir": None})
    assert np.array_equal(splits.test.y, again.test.y)


def test_mnist_npz(tmp_path, synthetic_files):
    rng = np.random.default_rng(0)
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", x_train=rng.integers(0, 255, (50, 28, 28), dtype=np.uint8),
             y_train=np.arange(50) % 10, x_test=rng.integers(0, 255, (10, 28, 28), dtype=np.uint8), y_test=np.arange(10))
    splits = load_dataset("mnist", {**OPTS, "data_dir": tmp_path})
    assert splits.sizes() == {"train": 40, "val": 10, "test": 10}
    assert splits.train.x.shape[1:] == (28, 28, 1)


def _idx(array: np.ndarray) -> bytes:
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_files(tmp_path, synthetic_files):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for prefix, n in (("train", 100), ("t10k", 10)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(np.full((n, 28, 28), 7)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10))
    splits = load_dataset("fashion_mnist", {**OPTS, "data_dir": tmp_path})
    assert splits.sizes()["test"] == 10 and splits.class_names[9] == "ankle boot"
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09ab"))
    with pytest.raises(UserError, match="truncated"):
        load_dataset("fashion_mnist", {**OPTS, "data_dir": tmp_path})


def test_cifar10_tarball(tmp_path, synthetic_files):
    def batch(n):
        return pickle.dumps({b"data": np.zeros((n, 3072), np.uint8), b"labels": list(np.arange(n) % 10)})

    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, n in [*((f"data_batch_{i}", 10) for i in range(1, 6)), ("test_batch", 10)]:
            blob = batch(n)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    splits = load_dataset("cifar10", {**OPTS, "data_dir": tmp_path})
    assert splits.sizes() == {"train": 40, "val": 10, "test": 10}
    assert splits.train.x.shape[1:] == (32, 32, 3) and splits.class_names[0] == "airplane"


def test_missing_named_dataset_offline_is_clear(tmp_path, monkeypatch):
    from dataclasses import replace

    import solutions.image_classification.data as data

    monkeypatch.setattr(data, "CIFAR100", replace(data.CIFAR100, url="http://127.0.0.1:9/cifar-100-python.tar.gz"))
    with pytest.raises(UserError, match="cifar-100-python.tar.gz"):
        load_dataset("cifar100", {**OPTS, "data_dir": tmp_path / "empty"})
