"""What the folders of a user's data directory mean, for every domain that reads class folders.

A folder per class is the common layout, but downloads often come already split: Kaggle sets and
Keras' `image_dataset_from_directory` / `text_dataset_from_directory` examples (aclImdb) hold
root/train/<class>/..., root/test/<class>/... Read as classes, such a folder trains a "train vs
test" classifier without a word; recognised, its splits are kept. A folder of unlabelled examples
(aclImdb's train/unsup) is not a class either.
"""

from __future__ import annotations

from pathlib import Path

from solutions.common.errors import UserError

# Folder names that mean a split, not a class (any case), to the kit's split names.
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "dev": "val", "test": "test", "testing": "test"}
# Folders of examples without a label: skipped and counted, never a class.
UNLABELED_FOLDERS = {"unsup", "unlabeled", "unlabelled"}


def data_dirs(root: Path) -> list[Path]:
    """Sub-folders that can hold data, in name order: not hidden, not macOS's zip residue (__MACOSX)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX")


def class_dirs(root: Path) -> tuple[list[Path], list[Path]]:
    """(class folders, unlabelled folders) under `root`."""
    dirs = data_dirs(root)
    return ([p for p in dirs if p.name.lower() not in UNLABELED_FOLDERS],
            [p for p in dirs if p.name.lower() in UNLABELED_FOLDERS])


def split_folders(root: Path) -> dict[str, Path]:
    """{"train": root/train, "val": ..., "test": ...} when every data folder under `root` is named
    as a split (train, training, val, valid, validation, dev, test, testing; any case) and the
    training one holds class folders; else {} (a class may well be called "train" beside "bus"
    and "car"). A validation or test folder without class folders holds unlabelled files (Kaggle's
    test/): it is left out here and its files are counted by `unlabeled_files`. Split folders of
    classes beside other folders, two folders for one split, or a train/ holding its files
    directly beside other split folders are errors that say what to pass instead."""
    dirs = data_dirs(root)
    named = {p: SPLIT_FOLDERS.get(p.name.lower()) for p in dirs}
    if not dirs or "train" not in named.values():
        return {}
    if not all(named.values()):
        splits = [p for p, split in named.items() if split]
        train = next(p for p, split in named.items() if split == "train")
        if len(splits) >= 2 and data_dirs(train):  # Kaggle's chest_xray/ holds chest_xray/ beside train/ test/ val/
            others = ", ".join(p.name + "/" for p, split in named.items() if not split)
            raise UserError(f"{', '.join(p.name + '/' for p in splits)} under {root} look like split folders of "
                            f"classes, beside {others}: move or remove those (a copy of the data?), or pass --data "
                            f"to a folder that holds only the splits, or only the classes")
        return {}
    parts: dict[str, Path] = {}
    for path, split in named.items():
        if split in parts:
            raise UserError(f"{parts[split].name}/ and {path.name}/ under {root} both name the {split} split; "
                            "merge them or keep one")
        parts[split] = path
    if not data_dirs(parts["train"]):
        if len(parts) == 1:
            return {}  # one folder named train holding files: one class, refused as such
        raise UserError(f"{', '.join(p.name + '/' for p in parts.values())} under {root} look like split folders, "
                        f"but {parts['train'].name}/ holds its files directly: put them in one sub-folder per "
                        f"class ({parts['train'].name}/<class>/...), or pass --data {parts['train']} if they are classes")
    return {split: path for split, path in parts.items() if split == "train" or data_dirs(path)}


def data_files(folder: Path) -> list[Path]:
    """Every non-hidden file under `folder`, at any depth, in path order: a file inside a hidden
    folder (.git/, .ipynb_checkpoints/, an editor's .backup/) is not data either."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden_below(p, folder))


def broken_links(folder: Path) -> int:
    """How many non-hidden symbolic links under `folder` lead nowhere (a moved or unmounted target):
    `data_files` cannot list them, so they are counted where the scan reports its skips."""
    return sum(1 for p in folder.rglob("*") if p.is_symlink() and not p.exists() and not _hidden_below(p, folder))


def root_files(root: Path) -> int:
    """How many non-hidden files lie directly in `root`, outside every class (or split) folder:
    they have no label, and are counted rather than passed over without a word."""
    return sum(1 for p in root.iterdir() if p.is_file() and not p.name.startswith("."))


def _hidden_below(path: Path, top: Path) -> bool:
    """Whether any component of `path` below `top` is hidden (starts with a dot)."""
    return any(part.startswith(".") for part in path.relative_to(top).parts)


def unlabeled_files(root: Path, given: dict[str, Path] | None = None) -> int:
    """How many files hold no label under `root`: in its unlabelled folders (unsup/), or, with
    `given`, in the split folders `split_folders` left out (no class folders)."""
    if given is None:
        folders = class_dirs(root)[1]
    else:
        folders = [p for p in data_dirs(root) if p not in given.values()]
    return sum(len(data_files(folder)) for folder in folders)


def one_class_hint(root: Path, only: str) -> str:
    """When a folder has a single class folder that itself holds several folders (a zip that
    unpacked into one more level), the hint to point --data one level down."""
    inner = [p.name for p in data_dirs(root / only)]
    if len(inner) < 2:
        return ""
    shown = ", ".join(inner[:5]) + (", ..." if len(inner) > 5 else "")
    return f"; its sub-folders ({shown}) look like the classes: pass --data {root / only}"
