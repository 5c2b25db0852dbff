"""CIFAR archives: a planted file is refused by its checksum, and batches are parsed without
unpickling, so even a file that passed would run nothing."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.image_classification.cifar import UnsafePickle, load_plain_pickle

# A CIFAR batch as the publisher's Python 2 cPickle (protocol 2) writes it, byte for byte in form.
PY2_BATCH = (b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04"
             b"K\x00\x85U\x01b\x87Rq\x05(K\x01K\x02K\x03\x86cnumpy\ndtype\nq\x06U\x02u1K\x00K\x01\x87Rq\x07"
             b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U\x06\x00\x01\x02\x03\x04\x05tb"
             b"U\x06labelsq\x08]q\t(K\x01K\x02eU\tfilenamesq\n]q\x0b(U\x05a.pngq\x0cU\x05b.pngq\reu.")


def _malicious(marker) -> bytes:
    return f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()


def test_a_python2_batch_is_read_as_plain_data():
    batch = load_plain_pickle(io.BytesIO(PY2_BATCH))
    assert batch[b"labels"] == [1, 2] and batch[b"filenames"] == [b"a.png", b"b.png"]
    np.testing.assert_array_equal(batch[b"data"], np.arange(6, dtype=np.uint8).reshape(2, 3))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickles_of_every_protocol_are_read(protocol):
    data = {b"data": np.arange(24, dtype=np.uint8).reshape(2, 12), b"labels": [3, np.int64(4)], b"batch_label": b"x",
            "fine_label_names": [b"apple", b"bear"], "coarse": (1.5, None, True)}
    assert load_plain_pickle(io.BytesIO(pickle.dumps(data, protocol=protocol))).keys() == data.keys()
    got = load_plain_pickle(io.BytesIO(pickle.dumps(data, protocol=protocol)))
    np.testing.assert_array_equal(got[b"data"], data[b"data"])
    assert got[b"labels"] == [3, 4] and got["fine_label_names"] == [b"apple", b"bear"]
    assert got["coarse"] == (1.5, None, True)


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(UnsafePickle, match="os.system"):
        load_plain_pickle(io.BytesIO(_malicious(marker)))
    assert not marker.exists()


def _tarball(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_a_planted_archive_in_the_data_directory_is_refused_by_checksum(tmp_path):
    from solutions.image_classification.data import load_cifar10

    marker = tmp_path / "pwned"
    _tarball(tmp_path / "cifar-10-python.tar.gz", {"data_batch_1": _malicious(marker)})
    with pytest.raises(UserError, match="checksum mismatch"):
        load_cifar10(tmp_path, "cifar10")
    assert not marker.exists()


def test_a_malicious_batch_is_refused_even_past_the_checksum(tmp_path):
    from solutions.image_classification.data import _cifar_members

    marker = tmp_path / "pwned"
    _tarball(tmp_path / "archive.tar.gz", {"data_batch_1": _malicious(marker), "test_batch": PY2_BATCH})
    with pytest.raises(UserError, match="refused"):
        _cifar_members(tmp_path / "archive.tar.gz")
    assert not marker.exists()
    _tarball(tmp_path / "good.tar.gz", {"test_batch": PY2_BATCH})
    assert _cifar_members(tmp_path / "good.tar.gz")["test_batch"][b"labels"] == [1, 2]
