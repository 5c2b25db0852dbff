"""Text sources: encodings, skipped texts, missing columns, one class, label order."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.common.data import kfold_split
from solutions.common.errors import UserError
from solutions.sentiment.data import load_folder, load_rt_polarity, load_table, read_lines
from tests.conftest import require_data
from tests.solutions.sentiment.corpus import write_csv


def test_rt_polarity_from_the_data_directory():
    require_data("rt-polaritydata/rt-polarity.pos")
    data = load_rt_polarity(None)
    assert len(data.texts) == 10662 and np.bincount(data.labels).tolist() == [5331, 5331]
    assert data.class_names == ["negative", "positive"]
    assert data.texts[0].startswith("simplistic , silly and tedious")


def test_rt_polarity_with_a_wrong_file_is_refused(tmp_path):
    folder = tmp_path / "rt-polaritydata"
    folder.mkdir()
    (folder / "rt-polarity.pos").write_text("good\n")
    (folder / "rt-polarity.neg").write_text("bad\n")
    with pytest.raises(UserError, match="5331"):
        load_rt_polarity(str(tmp_path))


def test_latin1_lines_are_read_and_counted(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes("caf\u00e9 ok\n".encode("utf-8") + b"na\xefve film\n\n   \nplain\n")
    lines, latin1, empty = read_lines(path)
    assert lines == ["café ok", "naïve film", "plain"] and latin1 == 1 and empty == 2


def test_csv_with_named_columns_and_skips(tmp_path):
    path = write_csv(tmp_path / "reviews.csv", 20)
    with open(path, "a", encoding="utf-8") as f:
        f.write('positive,""\n,"a text without label"\n')
    data = load_table(path, "Review", "SENTIMENT")  # headers match case-insensitively
    assert len(data.texts) == 40 and data.class_names == ["negative", "positive"]
    assert data.skipped == {"empty_text": 1, "missing_label": 1}


def test_csv_without_the_column_names_the_columns(tmp_path):
    path = write_csv(tmp_path / "reviews.csv", 5)
    with pytest.raises(UserError, match="no column 'text'.*'sentiment', 'review'"):
        load_table(path, "text", "sentiment")


def test_one_class_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\ngood film,pos\ngreat film,pos\n")
    with pytest.raises(UserError, match="only one class"):
        load_table(path, "text", "label")


def test_star_ratings_are_ordered_numerically(tmp_path):
    path = tmp_path / "stars.tsv"
    rows = [f"text {i}\t{s}" for i, s in enumerate([10, 2, 1, 5, 2, 10])]
    path.write_text("text\tstars\n" + "\n".join(rows) + "\n")
    data = load_table(path, "text", "stars")
    assert data.class_names == ["1", "2", "5", "10"]
    assert data.labels.tolist() == [3, 1, 0, 2, 1, 3]


def test_folder_of_txt_files(tmp_path):
    for label, texts in {"neg": ["bad", "awful"], "pos": ["good", "great", ""]}.items():
        (tmp_path / label).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(t)
    (tmp_path / "pos" / "notes.md").write_text("not a review")
    data = load_folder(tmp_path)["all"]
    assert data.class_names == ["neg", "pos"] and sorted(data.texts) == ["awful", "bad", "good", "great"]
    assert data.skipped == {"empty_text": 1, "not_a_txt_file": 1}


def write_reviews(root, counts: dict[str, int]) -> None:
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            (root / label / f"{i}_7.txt").write_text(f"{label} review number {i}")


def test_an_already_split_folder_keeps_its_splits_and_skips_unlabelled_texts(tmp_path):
    """aclImdb, as Keras' text_dataset_from_directory example downloads it: train/{neg,pos,unsup}
    and test/{neg,pos}. Read as class folders it was a 'test vs train' classifier."""
    write_reviews(tmp_path / "aclImdb" / "train", {"neg": 30, "pos": 30, "unsup": 5})
    write_reviews(tmp_path / "aclImdb" / "test", {"neg": 20, "pos": 10})
    parts = load_folder(tmp_path / "aclImdb")
    assert set(parts) == {"train", "test"}
    assert parts["train"].class_names == ["neg", "pos"] and parts["test"].class_names == ["neg", "pos"]
    assert np.bincount(parts["test"].labels).tolist() == [20, 10]
    assert all(t.startswith("pos") for t, y in zip(parts["test"].texts, parts["test"].labels) if y == 1)
    assert parts["train"].skipped == {"unlabeled": 5}

    from solutions.api import train_options
    from solutions.common.solution import get_solution

    options = train_options("sentiment", data=str(tmp_path / "aclImdb"), val_split=0.1)
    splits = get_solution("sentiment").for_plan(options).load_splits(options)
    assert len(splits.test.y) == 30 and len(splits.train.y) + len(splits.val.y) == 60
    assert splits.class_names == ["neg", "pos"] and "train and test folders (test as the test)" in splits.source["split"]
    assert splits.source["skipped"] == {"unlabeled": 5}


def test_a_tiny_validation_folder_joins_train_as_for_images(tmp_path):
    """The rule images and medical folders follow (`given_splits`): a val/ under 2% of train/ (the
    chest X-ray archive's 16 images) is too small to stop early on; it joins train/ and validation
    is carved from the whole, while a given test/ stays the test."""
    write_reviews(tmp_path / "train", {"neg": 200, "pos": 200})
    write_reviews(tmp_path / "val", {"neg": 2, "pos": 2})
    write_reviews(tmp_path / "test", {"neg": 20, "pos": 20})
    from solutions.api import train_options
    from solutions.common.solution import get_solution

    options = train_options("sentiment", data=str(tmp_path), val_split=0.1)
    splits = get_solution("sentiment").for_plan(options).load_splits(options)
    assert len(splits.train.y) + len(splits.val.y) == 404 and len(splits.val.y) >= 40
    assert len(splits.test.y) == 40
    assert "validation folder's 4 examples (under 2% of train) joined train" in splits.source["split"]


def test_a_test_folder_with_an_unknown_class_is_refused(tmp_path):
    write_reviews(tmp_path / "train", {"neg": 3, "pos": 3})
    write_reviews(tmp_path / "test", {"neg": 2, "neutral": 2})
    with pytest.raises(UserError, match=r"\['neutral'\] .* no training texts"):
        load_folder(tmp_path)


def test_kfold_split_covers_every_example_once_as_test():
    y = np.repeat([0, 1], 50)
    tests = []
    for fold in range(1, 6):
        train, val, test = kfold_split(y, folds=5, fold=fold, val_fraction=0.1, seed=0)
        assert not (set(train) & set(test)) and not (set(val) & set(test)) and not (set(train) & set(val))
        assert np.bincount(y[test]).tolist() == [10, 10]
        tests.extend(test)
    assert sorted(tests) == list(range(100))
    with pytest.raises(UserError):
        kfold_split(np.array([0, 0, 0, 1]), folds=3, fold=1, val_fraction=0.1, seed=0)


def test_tfds_text_sources_keep_their_labelled_splits(tmp_path):
    import tensorflow_datasets as tfds

    from solutions.sentiment.data import load_tfds_text

    with tfds.testing.mock_data(num_examples=12):
        parts = load_tfds_text("imdb", str(tmp_path))
    assert set(parts) == {"train", "test"}  # "unsupervised" has no labels
    assert all(len(p.texts) == 12 and p.class_names == ["neg", "pos"] for p in parts.values())


def test_a_csv_mixing_utf8_and_latin1_lines_is_decoded_per_line(tmp_path):
    from solutions.sentiment.data import load_table

    rows = [("un café parfait", "pos"), ("naïve and dull", "neg")] * 30
    raw = b"text,label\n" + b"".join(f"{t},{lab}\n".encode("utf-8") for t, lab in rows)
    raw += "une crème brûlée,pos\n".encode("latin-1")
    (tmp_path / "mixed.csv").write_bytes(raw)
    data = load_table(tmp_path / "mixed.csv", "text", "label")
    assert data.texts[0] == "un café parfait" and data.texts[1] == "naïve and dull"  # no mojibake
    assert data.texts[-1] == "une crème brûlée"
    assert data.read_as_latin1 == 1


def test_a_library_s_small_validation_split_stays_the_test_split(monkeypatch):
    """SST-2 (TFDS glue/sst2) publishes 67,349 training and 872 validation sentences (1.3%) and hides
    its test labels: its validation split is the test every SST-2 figure is measured on, so it is
    not merged into train as a tiny validation *folder* is."""
    from solutions.api import train_options
    from solutions.common.solution import get_solution
    from solutions.sentiment.data import TextData
    from solutions.sentiment.source import TextSource

    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "dull", "great", "awful"]

    def texts(n: int) -> TextData:
        labels = np.arange(n) % 2
        return TextData([" ".join(rng.choice(words, 5)) for _ in range(n)], labels, ["negative", "positive"])

    parts = {"train": texts(1000), "validation": texts(12)}
    monkeypatch.setattr(TextSource, "read_source", lambda self, options: (parts, "tfds:glue/sst2", []))
    options = train_options("sentiment", dataset="sst2", val_split=0.1)
    splits = get_solution("sentiment").for_plan(options).load_splits(options)
    assert len(splits.test.y) == 12 and len(splits.train.y) + len(splits.val.y) == 1000
    assert splits.source["split"].startswith("train and validation splits (validation as the test)")
