"""Named image datasets, read from the publisher's own files in the data directory.

digits ships with scikit-learn (offline default). MNIST is Keras' `mnist.npz`, Fashion-MNIST the
four IDX files, CIFAR the python-pickle tarballs (parsed, never unpickled), each checksummed whenever read. Datasets
without a validation split get one carved (stratified, seeded) out of their training split.
"""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.catalogue import RemoteFile, data_dir, fetch, fingerprint_arrays, fingerprint_files
from solutions.common.data import Split, Splits, split_off_validation, stratified_split
from solutions.common.errors import UserError
from solutions.image_classification.cifar import UnsafePickle, load_plain_pickle

KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST = RemoteFile("mnist/mnist.npz", KERAS_DATASETS + "mnist.npz",
                   "sha256:731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
FASHION = {
    name: RemoteFile(f"fashion-mnist/{name}", KERAS_DATASETS + name, "md5:" + md5)
    for name, md5 in {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }.items()
}
CIFAR10 = RemoteFile("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                     "md5:c58f30108f718f92721af3b95e74349a")
CIFAR100 = RemoteFile("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                      "md5:eb9058c3a382ffc7106e4002c42a8d85")
FASHION_CLASSES = ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                   "bag", "ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load_dataset(name: str, options: dict[str, Any]) -> Splits:
    """Splits of a named dataset at native resolution, uint8 NHWC."""
    if name == "digits":
        return load_digits(options)
    loaders = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist,
               "cifar10": load_cifar10, "cifar100": load_cifar100}
    if name not in loaders:
        raise UserError(f"unknown dataset {name!r}")
    directory = data_dir(options.get("data_dir"))
    (x_train, y_train), (x_test, y_test), classes, files = loaders[name](directory, name)
    train, val = split_off_validation(Split(x_train, y_train), val_fraction=options["val_split"], seed=options["seed"])
    return Splits(train, val, Split(x_test, y_test), classes, source={
        "name": name, "fingerprint": fingerprint_files(files),
        "split": f"publisher's test split; validation {options['val_split']:.0%} of train, seed {options['seed']}",
    })


def load_digits(options: dict[str, Any]) -> Splits:
    """scikit-learn's 1797 real 8x8 digits; pixel values 0-16 scaled to 0-255."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int32)
    train, val, test = stratified_split(x, y, val_fraction=options["val_split"],
                                        test_fraction=options["test_split"], seed=options["seed"])
    return Splits(train, val, test, [str(i) for i in range(10)], source={
        "name": "digits", "fingerprint": fingerprint_arrays(x, y),
        "split": f"stratified {1 - options['val_split'] - options['test_split']:.0%}/"
                 f"{options['val_split']:.0%}/{options['test_split']:.0%}, seed {options['seed']}",
    })


def load_mnist(directory: Path, name: str):
    path = fetch(MNIST, directory, name)
    with np.load(path) as f:
        train = (f["x_train"][..., None], f["y_train"].astype(np.int32))
        test = (f["x_test"][..., None], f["y_test"].astype(np.int32))
    return train, test, [str(i) for i in range(10)], [path]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain), as Yann LeCun's MNIST format defines it."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise UserError(f"{path} is not an unsigned-byte IDX file")
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UserError(f"{path} is truncated ({data.size} values, header says {shape})")
    return data.reshape(shape)


def load_fashion_mnist(directory: Path, name: str):
    paths = {key: fetch(remote, directory, name) for key, remote in FASHION.items()}
    x_train = read_idx(paths["train-images-idx3-ubyte.gz"])[..., None]
    y_train = read_idx(paths["train-labels-idx1-ubyte.gz"]).astype(np.int32)
    x_test = read_idx(paths["t10k-images-idx3-ubyte.gz"])[..., None]
    y_test = read_idx(paths["t10k-labels-idx1-ubyte.gz"]).astype(np.int32)
    return (x_train, y_train), (x_test, y_test), FASHION_CLASSES, list(paths.values())


CIFAR_BATCHES = {*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta", "train", "test", "meta"}


def _cifar_members(path: Path) -> dict[str, dict]:
    """The batches of a CIFAR python tarball, by file name, parsed without unpickling (cifar.py)."""
    out = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and Path(member.name).name in CIFAR_BATCHES:
                    out[Path(member.name).name] = load_plain_pickle(tar.extractfile(member))
    except UnsafePickle as exc:
        raise UserError(f"{path} is refused: a batch in it {exc}, which CIFAR's plain data never does") from None
    except (tarfile.TarError, ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        raise UserError(f"{path} is not a readable CIFAR python archive ({exc.__class__.__name__})") from None
    return out


def _cifar_images(batch: dict) -> np.ndarray:
    return np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def load_cifar10(directory: Path, name: str):
    path = fetch(CIFAR10, directory, name)
    members = _cifar_members(path)
    train = [members[f"data_batch_{i}"] for i in range(1, 6)]
    x_train = np.concatenate([_cifar_images(b) for b in train])
    y_train = np.concatenate([b[b"labels"] for b in train]).astype(np.int32)
    test = members["test_batch"]
    return (x_train, y_train), (_cifar_images(test), np.asarray(test[b"labels"], np.int32)), CIFAR10_CLASSES, [path]


def load_cifar100(directory: Path, name: str):
    path = fetch(CIFAR100, directory, name)
    members = _cifar_members(path)
    classes = [c.decode() for c in members["meta"][b"fine_label_names"]]
    train, test = members["train"], members["test"]
    return ((_cifar_images(train), np.asarray(train[b"fine_labels"], np.int32)),
            (_cifar_images(test), np.asarray(test[b"fine_labels"], np.int32)), classes, [path])
