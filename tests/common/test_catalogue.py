import hashlib

import pytest

from solutions.common.catalogue import RemoteFile, data_dir, fetch, fingerprint_files
from solutions.common.errors import UserError


def test_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SOLUTIONS_DATA_DIR", str(tmp_path / "env"))
    assert data_dir(tmp_path / "cli") == tmp_path / "cli"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("SOLUTIONS_DATA_DIR")
    assert data_dir().name == "datasets" and ".cache" in data_dir().parts


def test_existing_file_is_used_without_download_and_checked_on_every_read(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.bin").write_bytes(b"abc")
    good = RemoteFile("d/f.bin", "http://127.0.0.1:9/never", "md5:" + hashlib.md5(b"abc").hexdigest())
    assert fetch(good, tmp_path, "x") == tmp_path / "d" / "f.bin"
    (tmp_path / "d" / "f.bin").write_bytes(b"planted")  # replaced after the first read
    with pytest.raises(UserError, match="checksum mismatch"):
        fetch(good, tmp_path, "x")
    unchecked = RemoteFile("d/f.bin", "http://127.0.0.1:9/never", "md5:0", verify_on_read=False)
    assert fetch(unchecked, tmp_path, "x") == tmp_path / "d" / "f.bin"


def test_download_checks_checksum(tmp_path):
    src = tmp_path / "publisher.bin"
    src.write_bytes(b"payload")
    good = RemoteFile("cache/file.bin", src.as_uri(), "sha256:" + hashlib.sha256(b"payload").hexdigest())
    assert fetch(good, tmp_path / "dd", "x").read_bytes() == b"payload"
    bad = RemoteFile("cache/other.bin", src.as_uri(), "sha256:" + "0" * 64)
    with pytest.raises(UserError, match="checksum mismatch"):
        fetch(bad, tmp_path / "dd", "x")
    assert not (tmp_path / "dd" / "cache" / "other.bin").exists()
    assert not list((tmp_path / "dd" / "cache").glob(".download-*"))


def test_offline_error_names_expected_path(tmp_path):
    remote = RemoteFile("mnist/mnist.npz", "http://127.0.0.1:9/mnist.npz", "md5:0")
    with pytest.raises(UserError) as err:
        fetch(remote, tmp_path, "mnist")
    message = str(err.value)
    assert str(tmp_path / "mnist" / "mnist.npz") in message and "--data" in message


def test_fingerprint_changes_with_content(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("1")
    first = fingerprint_files([a])
    a.write_text("2")
    assert fingerprint_files([a]) != first
