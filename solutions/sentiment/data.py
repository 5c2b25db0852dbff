"""Sentiment datasets as (texts, labels): the publisher's rt-polarity files, TFDS imdb/sst2, a CSV/TSV
with named columns, or a folder of class sub-folders of .txt files.

Text files in the wild are not always UTF-8 (the publisher's rt-polarity is Latin-1): every line or
file is read as UTF-8 and, where that fails, as Latin-1, which maps every byte to a character, and
the count of such texts is reported. Empty texts are skipped and counted, never trained on.
"""

from __future__ import annotations

import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from solutions.common.catalogue import RemoteFile, data_dir, fetch
from solutions.common.errors import UserError, check_class_names
from solutions.common.folders import class_dirs, data_files, one_class_hint, split_folders, unlabeled_files

RT_POLARITY = RemoteFile(
    relpath="rt-polaritydata.tar.gz",
    url="https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
    checksum=None,  # the publisher gives none; the sentence counts below are checked instead
)
RT_POLARITY_FILES = {"neg": "rt-polaritydata/rt-polarity.neg", "pos": "rt-polaritydata/rt-polarity.pos"}
RT_POLARITY_LINES = 5331  # sentences per file in v1.0
# name -> (TFDS name, text feature, labelled splits); sst2's test labels are hidden (-1)
TFDS_TEXT = {"imdb": ("imdb_reviews", "text", ("train", "test")), "sst2": ("glue/sst2", "sentence", ("train", "validation"))}


@dataclass
class TextData:
    """Texts and integer labels, the class names in label order, and what was skipped or repaired."""

    texts: list[str]
    labels: np.ndarray
    class_names: list[str]
    skipped: Counter = field(default_factory=Counter)
    read_as_latin1: int = 0
    files: list[Path] = field(default_factory=list)


def decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8 if the bytes are valid UTF-8, else Latin-1 (never fails); True when it fell back."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def decode_lines(raw: bytes) -> tuple[str, int]:
    """A whole file decoded line by line (see `decode`): one Latin-1 line does not turn the valid
    UTF-8 of every other line into mojibake. Returns the text and how many lines fell back."""
    parts, fell_back = [], 0
    for line in raw.splitlines(keepends=True):
        text, latin1 = decode(line)
        parts.append(text)
        fell_back += latin1
    return "".join(parts), fell_back


def read_lines(path: Path) -> tuple[list[str], int, int]:
    """Non-empty lines of a text file, how many were read as Latin-1, how many empty were skipped."""
    lines, latin1, empty = [], 0, 0
    pieces = path.read_bytes().split(b"\n")
    if pieces and pieces[-1] == b"":  # the newline that ends the last line
        pieces.pop()
    for raw in pieces:
        text, fell_back = decode(raw.rstrip(b"\r"))
        if not text.strip():
            empty += 1
            continue
        latin1 += fell_back
        lines.append(text)
    return lines, latin1, empty


def load_rt_polarity(directory: str | None) -> TextData:
    """Movie Review sentence polarity v1.0 (Pang & Lee, 2005): label 0 = negative, 1 = positive."""
    root = data_dir(directory)
    paths = {k: root / rel for k, rel in RT_POLARITY_FILES.items()}
    if not all(p.exists() for p in paths.values()):
        try:
            archive = fetch(RT_POLARITY, root, "rt-polarity")
        except UserError as exc:
            raise UserError(f"{exc} (the extracted rt-polarity.pos/.neg in {root / 'rt-polaritydata'} work too)") from None
        with tarfile.open(archive) as tar:
            for rel in RT_POLARITY_FILES.values():
                member = tar.getmember(rel)
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(tar.extractfile(member).read())
    data = TextData([], np.zeros(0, np.int64), ["negative", "positive"], files=list(paths.values()))
    labels = []
    for label, key in enumerate(("neg", "pos")):
        lines, latin1, empty = read_lines(paths[key])
        if len(lines) != RT_POLARITY_LINES:
            raise UserError(f"{paths[key]} has {len(lines)} sentences, the publisher's v1.0 file has "
                            f"{RT_POLARITY_LINES}; replace it with the publisher's file or pass it with --data")
        data.texts += lines
        data.read_as_latin1 += latin1
        data.skipped["empty_text"] += empty
        labels += [label] * len(lines)
    data.labels = np.asarray(labels, dtype=np.int64)
    return data


def label_names(values: list) -> list[str]:
    """Class names in label order: numbers numerically (1..5 stars), anything else alphabetically."""
    unique = sorted(set(values), key=lambda v: (0, float(v), "") if _is_number(v) else (1, 0.0, str(v)))
    return [_label_text(v) for v in unique]


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _label_text(value) -> str:
    if _is_number(value) and float(value).is_integer():
        return str(int(float(value)))
    return str(value)


def _indexed(texts: list[str], labels: list, skipped: Counter, files: list[Path], latin1: int = 0) -> TextData:
    names = label_names(labels)
    check_class_names(names, "the labels")
    if len(names) < 2:
        raise UserError(f"the labels have only one class ({names[0] if names else 'none'}); a classifier needs at least two")
    index = {name: i for i, name in enumerate(names)}
    y = np.asarray([index[_label_text(v)] for v in labels], dtype=np.int64)
    return TextData(texts, y, names, skipped, latin1, files)


def load_table(path: Path, text_column: str, label_column: str) -> TextData:
    """A CSV (comma) or TSV (tab, also .tab/.txt) with a header row naming the two columns."""
    import pandas as pd

    raw = path.read_bytes()
    text, latin1 = decode_lines(raw)
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") or (path.suffix.lower() == ".txt" and "\t" in text[:4096]) else ","
    try:
        import io

        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read {path} as {'TSV' if sep == chr(9) else 'CSV'}: {str(exc).splitlines()[0]}") from None
    columns = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in (text_column, label_column) if c.lower() not in columns]
    if missing:
        raise UserError(f"{path} has no column {', '.join(repr(m) for m in missing)}; its columns are "
                        f"{', '.join(map(repr, frame.columns))} (choose with --text-column / --label-column)")
    texts_col = frame[columns[text_column.lower()]].astype(str)
    labels_col = frame[columns[label_column.lower()]].astype(str).str.strip()
    skipped: Counter = Counter()
    texts, labels = [], []
    for t, lab in zip(texts_col, labels_col):
        if not t.strip():
            skipped["empty_text"] += 1
        elif not lab:
            skipped["missing_label"] += 1
        else:
            texts.append(t)
            labels.append(lab)
    return _indexed(texts, labels, skipped, [path], latin1)


def load_folder(root: Path) -> dict[str, TextData]:
    """One sub-folder per class, one text per .txt file (sub-folder names are the class names):
    {"all": ...}; or a folder already split into train/ [val/] [test/], each holding the class
    folders (aclImdb's layout): {"train": ..., "validation": ..., "test": ...}, kept as given."""
    given = split_folders(root)
    if not given:
        return {"all": load_class_folders(root)}
    train = load_class_folders(given["train"])
    train.skipped["unlabeled"] += unlabeled_files(root, given)
    train.skipped = +train.skipped  # no zero counts
    parts = {"train": train}
    for split, key in (("val", "validation"), ("test", "test")):
        if split in given:
            part = load_class_folders(given[split], classes=train.class_names)
            if part.texts:
                parts[key] = part
            else:  # an empty one is carved from train/ like a missing one
                train.skipped.update(part.skipped)
    return parts


def load_class_folders(root: Path, classes: list[str] | None = None) -> TextData:
    """The .txt files of each class folder under `root`. With `classes` (a training split's), the
    folders must be among them and are labelled by their index there; without, at least two
    folders, each with a readable text. An unlabelled folder (aclImdb's unsup/) is counted, not read."""
    folders = class_dirs(root)[0]
    skipped: Counter = +Counter(unlabeled=unlabeled_files(root))  # no zero count
    if classes is None and len(folders) < 2:
        raise UserError(f"{root} needs at least two class sub-folders of .txt files; found {len(folders)}"
                        f"{one_class_hint(root, folders[0].name) if folders else ''}")
    if classes is not None:
        unknown = sorted(f.name for f in folders if f.name not in classes)
        if unknown:
            raise UserError(f"class folder(s) {unknown} in {root} have no training texts")
    texts, labels, files = [], [], []
    latin1 = 0
    for folder in folders:
        for path in data_files(folder):
            if path.suffix.lower() != ".txt":
                skipped["not_a_txt_file"] += 1
                continue
            text, fell_back = decode(path.read_bytes())
            if not text.strip():
                skipped["empty_text"] += 1
                continue
            latin1 += fell_back
            texts.append(text)
            labels.append(folder.name)
            files.append(path)
    counts = Counter(labels)
    if classes is not None:
        index = {n: i for i, n in enumerate(classes)}
        return TextData(texts, np.asarray([index[n] for n in labels], dtype=np.int64), list(classes), skipped,
                        latin1, files)
    empty = [c.name for c in folders if counts[c.name] == 0]
    if empty:
        raise UserError(f"class folder(s) {', '.join(empty)} in {root} hold no readable .txt file")
    data = _indexed(texts, labels, skipped, files, latin1)
    data.class_names = [c.name for c in folders]  # folder names as they are, not re-sorted as numbers
    index = {n: i for i, n in enumerate(data.class_names)}
    data.labels = np.asarray([index[n] for n in labels], dtype=np.int64)
    return data


def load_tfds_text(name: str, directory: str | None) -> dict[str, TextData]:
    """TFDS imdb_reviews / glue/sst2 splits that carry labels (sst2's test labels are hidden)."""
    from solutions.common.runtime import stderr_silenced

    tfds_name, key, wanted = TFDS_TEXT[name]
    try:
        import tensorflow_datasets as tfds

        with stderr_silenced():
            builder = tfds.builder(tfds_name, data_dir=str(data_dir(directory) / "tensorflow_datasets"))
            builder.download_and_prepare()
            splits = {}
            for split in wanted:
                ds = builder.as_dataset(split=split)
                rows = [(ex[key].decode("utf-8", "replace"), int(ex["label"])) for ex in tfds.as_numpy(ds)]
                splits[split] = rows
    except UserError:
        raise
    except Exception as exc:  # DownloadError, ConnectionError, DatasetNotFoundError ...
        raise UserError(f"TFDS dataset {tfds_name!r} is not prepared under "
                        f"{data_dir(directory) / 'tensorflow_datasets'} and could not be downloaded "
                        f"({exc.__class__.__name__}); prepare it there or pass a CSV with --data") from None
    names = builder.info.features["label"].names
    out = {}
    for split, rows in splits.items():
        rows = [(t, y) for t, y in rows if y >= 0]  # unlabeled parts (-1)
        if rows:
            out[split] = TextData([t for t, _ in rows], np.asarray([y for _, y in rows], np.int64), list(names))
    return out
