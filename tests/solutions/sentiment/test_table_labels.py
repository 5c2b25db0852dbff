"""A user's CSV: labels canonicalised and merged, missing labels and repeated rows skipped,
delimiters and UTF-16 detected, and `predict --file` answering every line."""

from __future__ import annotations

from collections import Counter

import pytest

from solutions.common.errors import UserError
from solutions.sentiment.data import _with_names, label_names, load_table
from solutions.sentiment.predictor import input_texts


def write(path, header: str, rows: list[tuple[str, str]], sep: str = ",", encoding: str = "utf-8"):
    path.write_text(header + "\n" + "".join(f"{t}{sep}{lab}\n" for t, lab in rows), encoding=encoding)
    return path


def test_numeric_labels_written_differently_are_one_class(tmp_path):
    """1, 1.0 and 01 were three classes (labels.txt "0 0 1 1", a 4-output model); 0.5 stays apart."""
    labels = ["1", "1.0", "01", "0", "0.0", "0.5", "0.50", "1"]
    path = write(tmp_path / "n.csv", "text,label", [(f"text {i}", lab) for i, lab in enumerate(labels)])
    data = load_table(path, "text", "label")
    assert data.class_names == ["0", "0.5", "1"]
    assert data.labels.tolist() == [2, 2, 2, 0, 0, 1, 1, 2]
    assert data.repairs == {"labels_merged_with_a_variant_spelling": 4}  # 1.0, 01, 0.0, 0.50
    assert label_names(["1", "1.0", "01", "10", "2"]) == ["1", "2", "10"]


def test_duplicate_class_names_are_refused_as_a_backstop():
    with pytest.raises(UserError, match="more than once"):
        _with_names(["a", "b"], ["1", "1"], ["1", "1"], Counter(), [])


def test_case_and_space_variants_are_one_class_named_by_the_most_frequent(tmp_path):
    labels = ["positive", "Positive", " positive ", "POSITIVE", "negative", "Negative", "True", "true", "true"]
    path = write(tmp_path / "c.csv", "text,label", [(f"text {i}", lab) for i, lab in enumerate(labels)])
    data = load_table(path, "text", "label")
    assert data.class_names == ["negative", "positive", "true"]
    assert data.labels.tolist() == [1, 1, 1, 1, 0, 0, 2, 2, 2]
    assert data.repairs == {"labels_merged_with_a_variant_spelling": 4}  # Positive, POSITIVE, Negative, True
    assert "'positive' <- 'POSITIVE', 'Positive'" in data.notes[0]


def test_missing_labels_are_skipped_and_counted_not_classes(tmp_path):
    rows = [("good", "pos"), ("bad", "neg"), ("meh", "NaN"), ("so so", "N/A"), ("fine", "null"),
            ("blank", ""), ("ok", "nan")]
    data = load_table(write(tmp_path / "m.csv", "text,label", rows), "text", "label")
    assert data.class_names == ["neg", "pos"] and data.skipped == {"missing_label": 5}
    # "None" is a class of its own in emotion data, not a missing label
    rows = [(f"text {i}", label) for i, label in enumerate(["joy", "None", "anger"] * 3)]
    data = load_table(write(tmp_path / "e.csv", "text,label", rows), "text", "label")
    assert data.class_names == ["None", "anger", "joy"] and not data.skipped


def test_the_rare_class_error_names_the_classes(tmp_path):
    """It listed indices ("classes [0, 1, 3, 4]"), which the user cannot map to a label."""
    from solutions.api import train_options
    from solutions.common.solution import get_solution

    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)] + [("a neutral text", "neutral")]
    options = train_options("sentiment", data=str(write(tmp_path / "r.csv", "text,label", rows)))
    with pytest.raises(UserError, match=r"'neutral' \(1\)"):
        get_solution("sentiment").for_plan(options).load_splits(options)
    options = train_options("sentiment", data=str(write(tmp_path / "r3.csv", "text,label", rows + [("more neutral", "neutral"), ("neutral again", "neutral")])), cv=5)
    with pytest.raises(UserError, match=r"'neutral' \(3\) have fewer than 5 texts"):
        get_solution("sentiment").for_plan(options).load_splits(options)


def test_repeated_rows_are_skipped_so_no_copy_sits_in_train_and_test(tmp_path):
    rows = [("good film", "pos"), ("bad film", "neg"), ("good film", "pos"), ("good film", "neg"), ("bad film", "neg")]
    data = load_table(write(tmp_path / "d.csv", "text,label", rows), "text", "label")
    assert data.texts == ["good film", "bad film", "good film"] and data.labels.tolist() == [1, 0, 0]
    assert data.skipped == {"duplicate_row": 2}


@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_the_delimiter_is_detected_whatever_the_file_is_named(tmp_path, sep):
    """A semicolon (a comma-decimal locale's spreadsheet) or tab file named .csv failed with
    'Expected 2 fields in line 8'; commas inside texts, and a quoted text spanning lines, stay."""
    rows = [(f"a , fine film number {i}" if sep != "," else f"a fine film number {i}", "pos" if i % 2 else "neg")
            for i in range(12)]
    rows.append(('"two\nlines, ; | here"', "pos"))
    data = load_table(write(tmp_path / "t.csv", f"text{sep}label", rows, sep), "text", "label")
    assert len(data.texts) == 13 and data.class_names == ["neg", "pos"]
    assert data.texts[-1] == "two\nlines, ; | here"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_file_is_read_as_utf16(tmp_path, encoding):
    rows = [("un café parfait", "pos"), ("naïve and dull", "neg")] * 3
    path = tmp_path / "u.csv"
    text = "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows)
    path.write_bytes(text.encode(encoding) if encoding == "utf-16" else ("\ufeff" + text).encode(encoding))  # BOM FF FE / FE FF
    data = load_table(path, "text", "label")
    assert data.texts[:2] == ["un café parfait", "naïve and dull"] and data.read_as_latin1 == 0


def test_predict_file_answers_every_line_empty_ones_included(tmp_path):
    """Empty lines were dropped, so the answers no longer lined up with the file's lines."""
    path = tmp_path / "texts.txt"
    path.write_bytes(b"a gorgeous film\n\n   \r\nna\xefve\nlast")
    assert input_texts(["first"], str(path)) == ["first", "a gorgeous film", "", "   ", "naïve", "last"]
    with pytest.raises(UserError, match="not a file"):
        input_texts([], str(tmp_path / "missing.txt"))
