"""Sentiment datasets as (texts, labels): the publisher's rt-polarity files, TFDS imdb/sst2, a CSV/TSV
with named columns, or a folder of class sub-folders of .txt files.

Text files in the wild are not always UTF-8 (the publisher's rt-polarity is Latin-1): every line or
file is read as UTF-8 and, where that fails, as Latin-1, which maps every byte to a character, and
the count of such texts is reported; a file that starts with a UTF-16 byte-order mark is UTF-16.
Empty texts, rows without a label and repeated (text, label) rows are skipped and counted, never
trained on. Labels are canonicalised before they become classes (1, 1.0 and 01 are one class "1";
Positive and positive one class, its most frequent spelling), and the rows relabelled are counted.
"""

from __future__ import annotations

import csv
import io
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from solutions.common.catalogue import RemoteFile, data_dir, fetch
from solutions.common.errors import UserError, check_class_names
from solutions.common.folders import class_dirs, data_files, one_class_hint, split_folders, unlabeled_files
from solutions.common.tables import decode, decode_lines

RT_POLARITY = RemoteFile(
    relpath="rt-polaritydata.tar.gz",
    url="https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
    checksum=None,  # the publisher gives none; the sentence counts below are checked instead
)
RT_POLARITY_FILES = {"neg": "rt-polaritydata/rt-polarity.neg", "pos": "rt-polaritydata/rt-polarity.pos"}
RT_POLARITY_LINES = 5331  # sentences per file in v1.0
# name -> (TFDS name, text feature, labelled splits); sst2's test labels are hidden (-1)
TFDS_TEXT = {"imdb": ("imdb_reviews", "text", ("train", "test")), "sst2": ("glue/sst2", "sentence", ("train", "validation"))}
DELIMITERS = ",;\t|"  # what a spreadsheet's "save as CSV/text" writes, by locale
DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}
# What spreadsheets and pandas write for an empty cell (compared case-blind); "None" and "NA" stay
# labels (a class "none" is common in emotion and aspect data).
MISSING_LABELS = {"", "nan", "n/a", "#n/a", "null", "<na>"}
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")  # no "inf", "nan" or "1_000"


@dataclass
class TextData:
    """Texts and integer labels, the class names in label order, and what was skipped or repaired."""

    texts: list[str]
    labels: np.ndarray
    class_names: list[str]
    skipped: Counter = field(default_factory=Counter)
    read_as_latin1: int = 0
    files: list[Path] = field(default_factory=list)
    repairs: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def utf16(raw: bytes, where: object) -> str | None:
    """The text of a file that starts with a UTF-16 byte-order mark (Excel's "Unicode text",
    Notepad's "Unicode"), else None: read byte by byte it would be Latin-1 with a NUL in every pair."""
    if not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        return raw.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise UserError(f"{where} starts with a UTF-16 byte-order mark but is not valid UTF-16 ({exc.reason})") from None


def decode_file(raw: bytes, where: object) -> tuple[str, int]:
    """A whole file: UTF-16 after its byte-order mark, else line by line (`decode_lines`), without a
    UTF-8 byte-order mark. Returns the text and how many lines fell back to Latin-1."""
    text = utf16(raw, where)
    if text is not None:
        return text.removeprefix("\ufeff"), 0
    text, latin1 = decode_lines(raw)
    return text.removeprefix("\ufeff"), latin1


def all_lines(path: Path) -> tuple[list[str], int]:
    """Every line of a text file, empty ones included (`predict --file` answers each line), and how
    many were read as Latin-1. The newline that ends the last line does not start another."""
    raw = path.read_bytes()
    text = utf16(raw, path)
    if text is not None:
        pieces = [(line, False) for line in text.removeprefix("\ufeff").split("\n")]
    else:
        pieces = [decode(line) for line in raw.split(b"\n")]
    if pieces and pieces[-1][0] == "":
        pieces.pop()
    return [line.removesuffix("\r") for line, _ in pieces], sum(latin1 for _, latin1 in pieces)


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
    """Class names in label order: numbers numerically (1..5 stars), anything else alphabetically.
    Each value is canonicalised before duplicates go, so 1 and 1.0 are one class, not two."""
    return sorted({_label_text(v) for v in values}, key=_label_order)


def _label_order(name: str) -> tuple:
    number = _number(name)
    return (0, number, "") if number is not None else (1, Decimal(0), name)


def _number(value) -> Decimal | None:
    """The value when it is written as a plain number (01, 1.0, -2.5e1), else None."""
    text = str(value).strip()
    return Decimal(text) if NUMBER.fullmatch(text) else None


def _label_text(value) -> str:
    """A label's class name: a number in its shortest form (1.0 and 01 -> "1", 0.50 -> "0.5", 0.5
    stays apart from 1), anything else as written without surrounding space."""
    number = _number(value)
    if number is None:
        return str(value).strip()
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _label_key(label: str) -> str:
    """What makes two spellings one class: the same number, or the same words in any case and spacing."""
    return _label_text(label) if _number(label) is not None else " ".join(label.split()).casefold()


def merge_label_spellings(labels: list[str]) -> tuple[list[str], int, list[str]]:
    """Labels that differ only in case, spacing or number format (Positive/positive, True/true,
    1/1.0) as one class, named by its most frequent spelling (a number by its shortest form): a
    spreadsheet's stray variants would otherwise be classes of their own. Returns the labels, how
    many rows were relabelled, and one line per merged class naming its variants."""
    spellings: dict[str, Counter] = {}
    for label in labels:
        spellings.setdefault(_label_key(label), Counter())[label] += 1
    names = {key: _label_text(c.most_common(1)[0][0]) for key, c in spellings.items()}
    merged = {key: c for key, c in spellings.items() if len(c) > 1}
    relabelled = sum(n for key, c in merged.items() for spelling, n in c.items() if spelling != names[key])
    notes = [f"{names[key]!r} <- " + ", ".join(repr(s) for s in sorted(c) if s != names[key]) for key, c in merged.items()]
    return [names[_label_key(label)] for label in labels], relabelled, notes


def _labelled_rows(texts: list[str], labels: list[str], skipped: Counter) -> tuple[list[str], list[str]]:
    """The rows with a text and a label; the others counted in `skipped`. NaN, N/A, null and an
    empty cell are no label (a spreadsheet's or pandas' empty cell), never a class."""
    kept_texts, kept_labels = [], []
    for text, label in zip(texts, labels):
        if not text.strip():
            skipped["empty_text"] += 1
        elif label.strip().casefold() in MISSING_LABELS:
            skipped["missing_label"] += 1
        else:
            kept_texts.append(text)
            kept_labels.append(label.strip())
    return kept_texts, kept_labels


def _first_of_each(texts: list[str], labels: list[str], skipped: Counter) -> tuple[list[str], list[str]]:
    """The first of rows repeating the same text with the same label, the repeats counted: a copy
    could land in training and test both and flatter the test score."""
    seen: set[tuple[str, str]] = set()
    kept_texts, kept_labels = [], []
    for row in zip(texts, labels):
        if row in seen:
            skipped["duplicate_row"] += 1
            continue
        seen.add(row)
        kept_texts.append(row[0])
        kept_labels.append(row[1])
    return kept_texts, kept_labels


def _with_names(texts: list[str], labels: list[str], names: list[str], skipped: Counter, files: list[Path],
                latin1: int = 0) -> TextData:
    """TextData whose labels index `names`; names that labels.txt could not keep apart are refused."""
    check_class_names(names, "the labels")
    repeated = sorted(n for n, k in Counter(names).items() if k > 1)
    if repeated:  # a backstop: labels are canonicalised and merged before they get here
        raise UserError(f"class name(s) {repeated} appear more than once; labels.txt needs distinct names")
    if len(names) < 2:
        raise UserError(f"the labels have only one class ({names[0] if names else 'none'}); a classifier needs at least two")
    index = {name: i for i, name in enumerate(names)}
    return TextData(texts, np.asarray([index[v] for v in labels], dtype=np.int64), names, skipped, latin1, files)


def _indexed(texts: list[str], labels: list, skipped: Counter, files: list[Path], latin1: int = 0) -> TextData:
    labels = [_label_text(v) for v in labels]
    return _with_names(texts, labels, label_names(labels), skipped, files, latin1)


def _header_fields(text: str, delimiter: str) -> set[str]:
    """The first line's fields, split at `delimiter`, stripped and lower-cased."""
    line = text.split("\n", 1)[0].rstrip("\r")
    try:
        return {f.strip().lower() for f in next(csv.reader([line], delimiter=delimiter), [])}
    except csv.Error:  # a NUL byte: no header to match
        return set()


def sniff_delimiter(text: str, suffix: str, columns: tuple[str, ...]) -> str:
    """The field delimiter among , ; tab | (a spreadsheet writes ; where the decimal mark is a comma,
    and tab-separated files are often named .csv): the one whose header row names the asked-for
    columns, else csv.Sniffer's guess from the first 64 KiB, else tab for .tsv/.tab, comma otherwise."""
    wanted = {c.strip().lower() for c in columns}
    fits = [d for d in DELIMITERS if wanted <= _header_fields(text, d)]
    if len(fits) == 1:
        return fits[0]
    sample = text[:65536]
    sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    try:
        guess = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or nothing regular enough to tell
        guess = "\t" if suffix in (".tsv", ".tab") else ","
    return fits[0] if fits and guess not in fits else guess


def load_table(path: Path, text_column: str, label_column: str) -> TextData:
    """A CSV or TSV with a header row naming the two columns, fields separated by , ; tab or |
    (see `sniff_delimiter`), UTF-8, Latin-1 or UTF-16 (see `decode_file`)."""
    import pandas as pd

    text, latin1 = decode_file(path.read_bytes(), path)
    sep = sniff_delimiter(text, path.suffix.lower(), (text_column, label_column))
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read {path} as {'TSV' if sep == chr(9) else 'CSV'} (fields separated by "
                        f"{DELIMITER_NAMES[sep]}): {str(exc).splitlines()[0]}") from None
    columns = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in (text_column, label_column) if c.lower() not in columns]
    if missing:
        raise UserError(f"{path} has no column {', '.join(repr(m) for m in missing)}; its columns are "
                        f"{', '.join(map(repr, frame.columns))} (choose with --text-column / --label-column)")
    skipped: Counter = Counter()
    texts, labels = _labelled_rows([str(v) for v in frame[columns[text_column.lower()]].fillna("")],
                                   [str(v) for v in frame[columns[label_column.lower()]].fillna("")], skipped)
    labels, relabelled, variants = merge_label_spellings(labels)
    texts, labels = _first_of_each(texts, labels, skipped)
    data = _indexed(texts, labels, +skipped, [path], latin1)
    data.repairs = +Counter(labels_merged_with_a_variant_spelling=relabelled)
    data.notes = [f"Labels merged (case, spacing or number format): {'; '.join(variants)}"] if variants else []
    return data


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
    # folder names as they are, not re-sorted as numbers nor merged (two folders are two classes)
    return _with_names(texts, labels, [c.name for c in folders], skipped, files, latin1)


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
