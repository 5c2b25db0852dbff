"""Reading a user's table: any delimiter, one clear line for a bad file."""

import pytest

from solutions.common.errors import UserError
from solutions.common.tables import columns_listing, read_table


def test_delimiter_is_sniffed(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\t2\n3\t4\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b"] and len(frame) == 2
    assert columns_listing(frame) == "its columns are: a, b"


@pytest.mark.parametrize("content, message", [(None, "is not a file"), (b"", "not a readable CSV"),
                                              (b"\xff\xfe\x00garbage\x00\n\x00", "not a readable CSV")])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "t.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        read_table(path)
    assert "\n" not in str(info.value)


def test_a_file_is_parsed_once_per_version(tmp_path, monkeypatch):
    """The up-front check of a source and its loader share one parse; a changed file is read again,
    and every caller gets its own copy."""
    import os

    import pandas as pd

    from solutions.common import tables

    calls = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(1) or real(*a, **k))
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,2,3\n")
    first = tables.read_table(path, dtype=str)
    first.loc[0, "user"] = "changed"
    second = tables.read_table(path, dtype=str)
    assert len(calls) == 1 and second.loc[0, "user"] == "1"
    path.write_text("user,item,rating\n1,2,3\n4,5,1\n")
    os.utime(path, ns=(1, 1))
    assert len(tables.read_table(path, dtype=str)) == 2 and len(calls) == 2


def test_excel_byte_order_mark_is_not_part_of_the_first_header(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xef\xbb\xbfuser,item,rating\n1,2,3\n")
    frame = read_table(path, dtype=str)
    assert list(frame.columns) == ["user", "item", "rating"]
    assert frame.attrs["lines_read_as_latin1"] == 0


def test_latin1_lines_fall_back_and_are_counted(tmp_path):
    """One Latin-1 byte made the whole file unreadable; the valid UTF-8 lines stay UTF-8."""
    path = tmp_path / "r.csv"
    path.write_bytes("user,item,rating\n1,Amélie,3\n2,".encode() + "Amélie".encode("latin-1") + b",4\n")
    frame = read_table(path, dtype=str)
    assert list(frame["item"]) == ["Amélie", "Amélie"]
    assert frame.attrs["lines_read_as_latin1"] == 1


def test_utf16_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("user\titem\trating\n1\tÉté\t3\n".encode("utf-16"))
    frame = read_table(path, dtype=str)
    assert list(frame.columns) == ["user", "item", "rating"] and frame.loc[0, "item"] == "Été"
