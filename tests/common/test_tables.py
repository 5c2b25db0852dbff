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
