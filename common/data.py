"""In-memory splits and the seeded, stratified split every dataset without its own split uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solutions.common.errors import UserError


@dataclass
class Split:
    """Model inputs `x`, labels `y`, and `raw` inputs as a user gives them when `x` is derived from
    them (texts a vocabulary turned into token ids)."""

    x: np.ndarray
    y: np.ndarray
    raw: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Splits:
    """train/val/test plus what a run must record about where they came from."""

    train: Split
    val: Split
    test: Split
    class_names: list[str]
    # dataset name, fingerprint, split rule, skipped-file counts: copied into config.json.
    source: dict[str, Any] = field(default_factory=dict)
    # what was fitted on the training split and ships with the model (e.g. a vocabulary)
    fitted: dict[str, Any] = field(default_factory=dict)
    # options resolved from the data (image size, channels, sequence length): joined to the plan
    resolved: dict[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def joined(splits: Splits) -> Split | None:
    """Every example of `splits` as one split (scoring a run on data it never saw, all of it), or
    None where the parts hold different things (a retrieval test split holds users, not pairs)."""
    parts = [part for part in (splits.train, splits.val, splits.test) if len(part)]
    if not parts:
        return None
    first = parts[0]

    def alike(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return a is None and b is None
        return a.shape[1:] == b.shape[1:] and a.dtype.kind == b.dtype.kind

    if not all(alike(part.x, first.x) and alike(part.y, first.y) and alike(part.raw, first.raw) for part in parts):
        return None
    return Split(np.concatenate([part.x for part in parts]), np.concatenate([part.y for part in parts]),
                 None if first.raw is None else np.concatenate([part.raw for part in parts]))


SEEN_FILE = "trained_examples.json"  # in a run directory: what `evaluate` on other data leaves out


def example_keys(split: Split) -> list[str]:
    """A short hash of each example's input, the text a user gave where the model reads ids derived
    from it: a run keeps those of its training and validation examples, so that `evaluate` on a
    folder that mixes them with new files scores the new ones only (the folder's fingerprint alone
    cannot tell them apart). Equal pixels or equal text (spacing aside) are one example, whatever the
    file's name."""
    import hashlib

    items = split.raw if split.raw is not None else split.x

    def key(item: Any) -> str:
        if isinstance(item, bytes):
            data = b"b" + item
        elif isinstance(item, str):  # spacing aside: a folder's text file ends in a newline, a CSV cell does not
            data = b"s" + " ".join(item.split()).encode("utf-8", "surrogatepass")
        else:
            array = np.ascontiguousarray(item)
            data = f"{array.dtype.str}{array.shape}".encode() + array.tobytes()
        return hashlib.blake2b(data, digest_size=8).hexdigest()

    return [key(item) for item in items]


def without_seen(split: Split, seen: set[str]) -> tuple[Split, int]:
    """`split` without the examples whose key is in `seen`, and how many those were."""
    keep = np.array([key not in seen for key in example_keys(split)], dtype=bool)
    if keep.all():
        return split, 0
    return Split(split.x[keep], split.y[keep], None if split.raw is None else split.raw[keep]), int((~keep).sum())


def stratified_split(
    x: np.ndarray, y: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int,
    class_names: list[str] | None = None,
) -> tuple[Split, Split, Split]:
    """Seeded stratified train/val/test split (the test part is never used for early stopping).
    `class_names` (label order) name the classes in errors; without them they are named by index."""
    if not 0 < val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise UserError(
            f"--val-split {val_fraction} and --test-split {test_fraction} must be in (0, 1) and sum to less than 1"
        )
    counts = np.bincount(y)
    rare = [c for c, n in enumerate(counts) if 0 < n < 3]
    if rare:
        names = ", ".join(_class_name(c, class_names) for c in rare)
        raise UserError(f"class(es) {names} have fewer than 3 examples: too few to split into train/val/test")
    try:
        train, val, test = _three_way(y, val_fraction, test_fraction, seed)
    except ValueError:  # a split smaller than the number of classes: sklearn refuses it
        raise UserError(_too_few_message(y, val_fraction, test_fraction, seed)) from None
    return Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test])


def _class_name(label: int, class_names: list[str] | None) -> str:
    return repr(class_names[label]) if class_names and label < len(class_names) else str(label)


def _three_way(y: np.ndarray, val_fraction: float, test_fraction: float,
               seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test): the test part first, then validation out of the rest."""
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=y[rest],
                                  random_state=seed)
    return train, val, test


def _too_few_message(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> str:
    """Why a small dataset cannot be split: every split must hold an example of every class, so
    the error says how many examples per class would do (found by splitting a balanced stand-in)."""
    classes = int(np.count_nonzero(np.bincount(y)))
    need = next((m for m in range(3, 1001) if _splits(np.repeat(np.arange(classes), m), val_fraction,
                                                          test_fraction, seed)), None)
    rule = f"{1 - val_fraction - test_fraction:.0%}/{val_fraction:.0%}/{test_fraction:.0%}"
    enough = f"about {need} per class ({need * classes} in all)" if need else "more"
    return (f"{len(y)} examples in {classes} classes are too few for a stratified {rule} split (train, validation "
            f"and test each need an example of every class): give {enough}, or raise --val-split / --test-split")


def _splits(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> bool:
    try:
        _three_way(y, val_fraction, test_fraction, seed)
    except ValueError:
        return False
    return True


def split_off_validation(train: Split, *, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Carve a stratified validation split out of a publisher's training split."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(train.y))
    try:
        tr, va = train_test_split(idx, test_size=val_fraction, stratify=train.y, random_state=seed)
    except ValueError as exc:  # too few examples per class for a stratified split
        raise UserError(f"cannot carve a validation split out of {len(idx)} training examples: {exc}") from None
    return Split(train.x[tr], train.y[tr]), Split(train.x[va], train.y[va])


def given_splits(parts: dict[str, Split], *, val_fraction: float, test_fraction: float, seed: int,
                 unit: str = "folder", merge_tiny_validation: bool = True) -> tuple[Split, Split, Split, str]:
    """(train, val, test, how) from the splits a dataset comes in ("train", optional "val" and
    "test"), as the text path takes TFDS's: a given test split is the test; with only a
    validation split, that one is the test (the held-out data the user set aside is what the
    score is measured on), and validation is carved, stratified and seeded, out of train; with
    neither, train is split as a folder of classes is (`stratified_split`). A given validation
    split under `MIN_GIVEN_VALIDATION` of train joins it and counts as not given, unless
    `merge_tiny_validation` is off (a library's published split, such as SST-2's validation split,
    stays what the published figures are measured on). `unit` names the parts in the rule that is
    recorded ("folder", or "split" for a library's)."""
    parts, note = dict(parts), ""
    train = parts["train"]
    if merge_tiny_validation and "val" in parts and len(parts["val"].y) < MIN_GIVEN_VALIDATION * len(train.y):
        # Kaggle's chest_xray val/ holds 16 images beside 5,216: too few to stop early, calibrate
        # or set a threshold on, so they join train/ and validation is carved as if none were given
        small = parts.pop("val")
        train = Split(np.concatenate([train.x, small.x]), np.concatenate([train.y, small.y]))
        note = (f"; the validation {unit}'s {len(small.y)} examples (under {MIN_GIVEN_VALIDATION:.0%} of train) "
                "joined train")
    train, val, test, how = _given_splits(train, parts, val_fraction=val_fraction, test_fraction=test_fraction,
                                          seed=seed, unit=unit)
    return train, val, test, how + note


# A given validation split smaller than this share of the training split is merged into it.
MIN_GIVEN_VALIDATION = 0.02


def _given_splits(train: Split, parts: dict[str, Split], *, val_fraction: float, test_fraction: float, seed: int,
                  unit: str) -> tuple[Split, Split, Split, str]:
    if "test" in parts and "val" in parts:
        return train, parts["val"], parts["test"], f"train, validation and test {unit}s as given"
    if "test" in parts or "val" in parts:
        held = "test" if "test" in parts else "validation"
        train, val = split_off_validation(train, val_fraction=val_fraction, seed=seed)
        return (train, val, parts["test" if "test" in parts else "val"],
                f"train and {held} {unit}s ({held} as the test); validation {val_fraction:.0%} of train, seed {seed}")
    train, val, test = stratified_split(train.x, train.y, val_fraction=val_fraction, test_fraction=test_fraction,
                                        seed=seed)
    return train, val, test, (f"a train {unit} only, split as a class folder is: stratified "
                              f"{1 - val_fraction - test_fraction:.0%}/{val_fraction:.0%}/{test_fraction:.0%}, seed {seed}")


def kfold_split(
    y: np.ndarray, *, folds: int, fold: int, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test) of fold `fold` (1-based) of a seeded stratified K-fold split.

    The test part is the fold; validation (for early stopping) is carved, stratified, out of the
    other K-1 folds, so no fold's test texts influence its model in any way.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if not 2 <= folds <= len(y):
        raise UserError(f"--cv {folds}: need 2 <= K <= {len(y)} (the number of examples)")
    if not 1 <= fold <= folds:
        raise UserError(f"fold {fold} is not in 1..{folds}")
    smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
    if smallest < folds:
        raise UserError(f"--cv {folds}: the rarest class has only {smallest} examples, fewer than the folds")
    rest, test = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))[fold - 1]
    train, val = train_test_split(rest, test_size=val_fraction, stratify=y[rest], random_state=seed)
    return train, val, test
