import hashlib

import pytest

from solutions.common.catalogue import (RemoteFile, data_dir, fetch, fingerprint_files, fingerprint_layout,
                                        source_difference)
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


def test_an_unwritable_data_directory_names_the_data_directory(tmp_path):
    """A read-only data directory once got "free space or choose a writable --output" (the
    generic disk message). Here a file stands where the directory should be (tests run as root,
    for whom chmod does not stop a write)."""
    not_a_directory = tmp_path / "data"
    not_a_directory.write_text("")
    remote = RemoteFile("mnist/mnist.npz", "http://127.0.0.1:9/mnist.npz", "md5:0")
    with pytest.raises(UserError, match="cannot be downloaded there .*--data-dir") as err:
        fetch(remote, not_a_directory, "mnist")
    assert str(not_a_directory / "mnist" / "mnist.npz") in str(err.value)


def test_fingerprint_changes_with_content(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("1")
    first = fingerprint_files([a])
    a.write_text("2")
    assert fingerprint_files([a]) != first


def test_the_layout_catches_a_file_moved_into_another_class_folder(tmp_path):
    """Relabelling by moving cat/a.png to dog/a.png keeps every base name, byte and the sorted
    order, so the content fingerprint stays the same; the layout (relative paths) does not."""
    for folder in ("cat", "dog"):
        (tmp_path / folder).mkdir()
    a, b = tmp_path / "cat" / "a.png", tmp_path / "dog" / "b.png"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    before = {"fingerprint": fingerprint_files([a, b]), "layout": fingerprint_layout([a, b], tmp_path)}
    moved = a.rename(tmp_path / "dog" / "a.png")
    after = {"fingerprint": fingerprint_files([moved, b]), "layout": fingerprint_layout([moved, b], tmp_path)}
    assert after["fingerprint"] == before["fingerprint"] and after["layout"] != before["layout"]
    assert source_difference(before, after) == "its files sit in other folders"
    assert source_difference(before, before) is None
    # a run recorded before layouts existed is compared by its fingerprint alone
    assert source_difference({"fingerprint": before["fingerprint"]}, after) is None
    b.write_bytes(b"C")
    assert source_difference(before, {**after, "fingerprint": fingerprint_files([moved, b])}) == "its files differ"
    # the same folder reached through another spelling of its path has the same layout
    assert fingerprint_layout([moved, b], tmp_path / "dog" / "..") == after["layout"]


def test_a_file_that_cannot_be_opened_is_fingerprinted_by_its_name(tmp_path, monkeypatch):
    """The reader skipped it as unreadable; the fingerprint must not die on it either."""
    import builtins

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    readable = fingerprint_files([a, b])
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):  # as root, chmod 000 does not stop a read
        if str(file) == str(b):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    locked = fingerprint_files([a, b])
    assert locked.startswith("sha256:") and locked != readable and locked == fingerprint_files([b, a])


def test_the_same_files_read_to_another_split_are_named():
    """A reader that now drops repeated rows or merges label spellings splits the same files (same
    fingerprint) otherwise: evaluate and resume must not take that for the run's split."""
    from solutions.common.catalogue import split_difference

    config = {"sizes": {"train": 70, "val": 15, "test": 15}, "class_names": ["neg", "pos"]}
    assert split_difference(config, {"train": 70, "val": 15, "test": 15}, ["neg", "pos"]) is None
    assert split_difference(config, {"train": 68, "val": 15, "test": 15}, ["neg", "pos"]) == \
        "its files now read as train 68, val 15, test 15, not train 70, val 15, test 15"
    assert split_difference(config, config["sizes"], ["1", "0"]) is None  # tidied names, the same split
    assert "the 1 classes ['pos']" in split_difference(config, config["sizes"], ["pos"])
    assert split_difference({}, {"train": 1}, ["a"]) is None  # a config without the record: nothing to compare
    # day-first timestamps: the same sizes, but read (and ordered) otherwise, which the repairs say
    config["source"] = {"repairs": {"duplicate_user_item_pairs_kept_latest": 2, "rows_dropped": 0}}
    assert split_difference(config, config["sizes"], ["neg", "pos"], {"duplicate_user_item_pairs_kept_latest": 2}) is None
    assert split_difference(config, config["sizes"], ["neg", "pos"], {
        "duplicate_user_item_pairs_kept_latest": 2, "dates_read_as_day_month_year": 15}) == \
        "its files now read with other repairs (dates read as day month year 0 -> 15)"
