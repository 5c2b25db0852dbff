"""Reading images for any image domain: class-folder trees, files given to `predict`, resizing.

Bad files are skipped and counted (a corrupt JPEG or a stray README must not stop a 10k-image
run), while a tree that cannot train at all (missing, empty, one class) is a clear error that is
raised before TensorFlow is even imported.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from solutions.common.errors import UserError, check_class_names
from solutions.common.folders import (broken_links, class_dirs, data_files, one_class_hint, root_files, split_folders,
                                      unlabeled_files)

# TIFF too: scanners and microscopes write 16-bit TIFF, which `to_8bit` scales like a 16-bit PNG.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class FolderScan:
    """Files found per class, and what was passed over (reported in the run's output). `parts`
    holds the splits a folder already comes in (train/, val/, test/), each scanned with the same
    class indices; empty when the kit splits the files itself."""

    class_names: list[str]
    files: list[tuple[Path, int]]
    skipped: Counter = field(default_factory=Counter)
    parts: dict[str, "FolderScan"] = field(default_factory=dict)
    # class folders left out for holding no usable file (named when the files are read)
    dropped: list[str] = field(default_factory=list)


def scan_class_folders(root: str | Path, suffixes: set[str] = IMAGE_SUFFIXES) -> FolderScan:
    """One sub-folder per class (files with other suffixes are counted as `not_an_image`), or a
    folder already split into train/ [val/] [test/] sub-folders that each hold the class folders."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"data path {root} does not exist")
    if not root.is_dir():
        raise UserError(f"data path {root} is not a folder (expected one sub-folder per class)")
    given = split_folders(root)
    if given:
        return _scan_given_splits(root, given, suffixes)
    scan = _scan_classes(root, suffixes)
    check_class_names(scan.class_names, f"the folders of {root}")
    if not scan.files:
        raise UserError(
            f"no images found under {root}: expected one sub-folder per class holding "
            f"{'/'.join(sorted(s.lstrip('.') for s in suffixes))} files{_outside_hint(scan)}"
        )
    if len(scan.class_names) < 2:
        raise UserError(
            f"only one class ({scan.class_names[0]!r}) under {root}: a classifier needs at least two "
            f"class sub-folders{one_class_hint(root, scan.class_names[0])}{_dropped_hint(scan)}"
        )
    return scan


def _outside_hint(scan: FolderScan) -> str:
    """For an error about a folder without classes: the files that lie directly in it."""
    outside = scan.skipped["outside_class_folders"]
    return f" ({outside} file(s) lie directly in it, outside any class folder)" if outside else ""


def _dropped_hint(scan: FolderScan) -> str:
    """The class folders left out for holding no usable file, for an error about too few classes."""
    if not scan.dropped:
        return ""
    return "; left out for holding no usable files: " + ", ".join(repr(name) for name in scan.dropped)


def _scan_given_splits(root: Path, given: dict[str, Path], suffixes: set[str]) -> FolderScan:
    """Each split folder scanned for the classes of train/; a class only in val/ or test/ is an error
    (the model could never predict it), a class missing from them is allowed."""
    train = scan_class_folders(given["train"], suffixes)  # at least two classes, names checked
    train.dropped = [f"{given['train'].name}/{name}" for name in train.dropped]
    parts = {"train": train}
    for split in ("val", "test"):
        if split not in given:
            continue
        part = _scan_classes(given[split], suffixes)
        dropped = [f"{given[split].name}/{name}" for name in part.dropped]
        if not part.files:  # an empty test/ is carved from train/ like a missing one
            train.skipped.update(part.skipped)
            train.dropped += dropped
            continue
        unknown = sorted(set(part.class_names) - set(train.class_names))
        if unknown:
            raise UserError(f"class folder(s) {unknown} in {given[split]} have no training images in {given['train']}")
        index = {name: train.class_names.index(name) for name in part.class_names}
        parts[split] = FolderScan(train.class_names, [(p, index[part.class_names[label]]) for p, label in part.files],
                                  part.skipped, dropped=dropped)
    train.skipped.update(unlabeled=unlabeled_files(root, given), outside_class_folders=root_files(root))
    train.skipped = +train.skipped  # no zero counts
    skipped = sum((part.skipped for part in parts.values()), Counter())
    files = [item for part in parts.values() for item in part.files]
    dropped = [name for part in parts.values() for name in part.dropped]
    return FolderScan(train.class_names, files, skipped, parts, dropped)


def _scan_classes(root: Path, suffixes: set[str]) -> FolderScan:
    """Each data sub-folder that holds usable files is a class, in name order, named by its NFC
    spelling (macOS writes names decomposed, NFD: one class must not become two that print alike).
    The files of an unlabelled folder (unsup/), files directly in `root`, and broken links are
    counted; a class folder without usable files is left out and named in `dropped`."""
    scan = FolderScan(class_names=[], files=[])
    scan.skipped.update(unlabeled=unlabeled_files(root), outside_class_folders=root_files(root))
    spelled: dict[str, str] = {}
    for class_dir in class_dirs(root)[0]:
        name = _class_label(class_dir.name, spelled, root)
        members = data_files(class_dir)
        usable = [p for p in members if p.suffix.lower() in suffixes]
        scan.skipped.update(not_an_image=len(members) - len(usable), broken_link=broken_links(class_dir))
        if not usable:
            scan.dropped.append(name)
            continue
        label = len(scan.class_names)
        scan.class_names.append(name)
        scan.files.extend((p, label) for p in usable)
    scan.skipped = +scan.skipped  # no zero counts
    return scan


def _class_label(folder: str, spelled: dict[str, str], root: Path) -> str:
    """The folder's name in NFC; two folders that are one name in NFC are refused (which one
    would the label mean?). `spelled` maps NFC names to the folder names seen so far."""
    name = unicodedata.normalize("NFC", folder)
    if name in spelled:
        raise UserError(f"class folders {spelled[name]!r} and {folder!r} under {root} are the same name in two "
                        "Unicode spellings (composed and decomposed): merge them into one folder")
    spelled[name] = folder
    return name


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """Decode one file to uint8 (size, size, channels), upright by its EXIF orientation; raises
    UserError if it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            turn = exif_turn(img)  # before load(): a PNG's EXIF counts only before its pixels, as the standard says
            img.load()
            img = to_8bit(img).convert("L" if channels == 1 else "RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            if turn is not None:  # after the resize to a square: the same pixels, a fraction of the work
                img = img.transpose(turn)
            arr = np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError:
        raise UserError(f"{path}: refused, too many pixels to decode safely (over "
                        f"{2 * Image.MAX_IMAGE_PIXELS:,}; a decompression bomb or a huge scan)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    return arr[..., None] if channels == 1 else arr


# EXIF orientation (tag 0x0112, values 2-8): how a camera's stored pixels must be turned to stand
# upright. Phones store portrait photos sideways with this tag, and every viewer shows them upright
# (as a MediaPipe app's camera frame is), so the kit trains and predicts on them upright too. The
# serving signature reads the same tag in its graph (`serving_export.exif_orientations`).
EXIF_ORIENTATION = 0x0112


def exif_turn(img):
    """The Pillow transpose that makes `img` upright by the orientation in its EXIF block, or None
    (no block, no tag, 1, a value that is not an integer 2-8, or a block that cannot be parsed:
    damaged metadata must not make the pixels unreadable). Only the EXIF block is read, as viewers
    and the serving graph read it, not Pillow's fallbacks (XMP, PNG text chunks); called before
    `load()`, it sees a PNG's eXIf only before the pixels, where the PNG standard puts it."""
    from PIL import Image

    turns = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}
    block = img.info.get("exif")
    if not isinstance(block, bytes):
        return None
    try:
        exif = Image.Exif()
        exif.load(block)
        orientation = exif.get(EXIF_ORIENTATION)
    except Exception:  # Pillow raises many kinds (SyntaxError, struct.error, ValueError...) on a bad block
        return None
    return turns.get(orientation) if isinstance(orientation, int) else None


def to_8bit(img):
    """A 16-bit (or 32-bit integer) grayscale image scaled by its bit depth to 8 bits; a 32-bit
    float one by its own range.

    Pillow's own conversion clips every value above 255 to white, which wipes out a 16-bit
    radiograph without a word. 16-bit PNG/TIFF open as I;16* (or as I, 32-bit, holding 16-bit
    values): they are divided by 65535; wider values by 2**32 - 1.
    """
    from PIL import Image

    if img.mode == "F":  # 32-bit float (microscopy TIFFs): no bit depth to scale by, so min-max
        values = np.nan_to_num(np.asarray(img, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if img.mode not in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        return img
    values = np.asarray(img).astype(np.float64)
    depth = 65535.0 if img.mode.startswith("I;16") or values.max(initial=0) <= 65535 else 4294967295.0
    scaled = np.round(np.clip(values, 0, depth) * (255.0 / depth)).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def guess_channels(files: list[Path], sample: int = 50) -> int:
    """1 if every sampled readable image is grayscale, else 3."""
    from PIL import Image

    for path in files[:: max(1, len(files) // sample)]:
        try:
            with Image.open(path) as img:
                if img.mode not in ("L", "1", "I;16", "I;16L", "I;16B", "I;16N", "I", "LA"):
                    return 3
        except Exception:  # unreadable files are counted when they are decoded
            continue
    return 1


def typical_side(files: list[Path], sample: int = 200) -> int | None:
    """The median longer side of a sample of the files' images (read from their headers); None
    when none is readable."""
    from PIL import Image

    sides = []
    for path in files[:: max(1, len(files) // sample)]:
        try:
            with Image.open(path) as img:
                sides.append(max(img.size))
        except Exception:  # unreadable files are counted when they are decoded
            continue
    return int(np.median(sides)) if sides else None


def load_scan(
    scan: FolderScan,
    size: int,
    channels: int,
    reader: Callable[[Path, int, int], np.ndarray] = read_image,
    *,
    every_class: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every scanned file; files that cannot be decoded are skipped and counted as `corrupt`,
    those that cannot even be opened (no permission, gone) as `unreadable`. With `every_class`
    (training data) a class left without readable images is an error. Class folders the scan left
    out are named here, once, as the files are read."""
    if scan.dropped:
        print("Left out class folder(s) with no usable files: " + ", ".join(repr(name) for name in scan.dropped))
    images, labels = [], []
    for path, label in scan.files:
        try:
            images.append(reader(path, size, channels))
        except UserError:
            scan.skipped["corrupt" if _openable(path) else "unreadable"] += 1
            continue
        labels.append(label)
    present = set(labels)
    empty = [name for i, name in enumerate(scan.class_names) if i not in present]
    if empty and every_class:
        raise UserError(f"no readable images left in class folder(s) {empty}")
    if not images:
        raise UserError("no readable images left in the folder")
    return np.stack(images), np.asarray(labels, dtype=np.int32)


def _openable(path: Path) -> bool:
    """Whether the file's bytes can be read at all: tells a damaged image from a file the
    operating system refuses (permissions), which need different fixes."""
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


def resize_batch(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, h, w, c) -> uint8 (n, size, size, c), bilinear with antialiasing, in chunks."""
    if x.shape[1:3] == (size, size):
        return x
    from solutions.common.runtime import import_tensorflow

    tf = import_tensorflow()
    out = []
    for start in range(0, len(x), 4096):
        chunk = tf.image.resize(x[start : start + 4096], (size, size), antialias=True)
        out.append(np.clip(np.round(chunk.numpy()), 0, 255).astype(np.uint8))
    return np.concatenate(out)


def load_tfds_images(name: str, directory: Path, size: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """A TFDS image dataset as {split: (uint8 images, int labels)} and its class names."""
    from solutions.common.runtime import import_tensorflow

    import_tensorflow()
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=str(directory / "tensorflow_datasets"))
        builder.download_and_prepare()
    except Exception as exc:  # tfds raises many types: offline, unknown name, bad config
        raise UserError(
            f"tfds:{name} could not be loaded ({exc.__class__.__name__}: {str(exc).splitlines()[0][:160]}); "
            f"TFDS keeps its files under {directory / 'tensorflow_datasets'}"
        ) from None
    features = builder.info.features
    image_key = next((k for k in ("image", "img") if k in features), None)
    if image_key is None or "label" not in features:
        raise UserError(f"tfds:{name} has no image/label features (it has {sorted(features)})")
    class_names = list(features["label"].names)
    channels = features[image_key].shape[-1] or 3
    result = {}
    # Metadata lists the splits once prepared; without it (a mocked builder) use the usual two.
    for split in list(builder.info.splits) or ["train", "test"]:
        ds = builder.as_dataset(split=split, as_supervised=False)
        images, labels = [], []
        for ex in tfds.as_numpy(ds):
            img = ex[image_key]
            images.append(resize_batch(img[None], size)[0] if img.shape[:2] != (size, size) else img)
            labels.append(int(ex["label"]))
        x = np.stack(images).astype(np.uint8)
        result[split] = (x.reshape(len(x), size, size, channels), np.asarray(labels, dtype=np.int32))
    return result, class_names
