import shutil

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.common.image_io import load_scan, read_image, resize_batch, scan_class_folders
from tests.conftest import write_digit_pngs


def test_folder_skips_and_counts_bad_files(tmp_path):
    root = write_digit_pngs(tmp_path / "d", per_class=5, classes=2)
    (root / "digit_0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (root / "digit_1" / "notes.txt").write_text("not an image")
    scan = scan_class_folders(root)
    x, y = load_scan(scan, 8, 1)
    assert scan.class_names == ["digit_0", "digit_1"]
    assert x.shape == (10, 8, 8, 1) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [5, 5]
    assert scan.skipped == {"not_an_image": 1, "corrupt": 1}


@pytest.mark.parametrize("layout, message", [
    (None, "does not exist"),
    ({}, "no images found"),
    ({"only": 3}, "only one class"),
])
def test_unusable_folders_are_clear_errors(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout is not None:
        root.mkdir()
        for name, n in layout.items():
            write_digit_pngs(tmp_path / "src", per_class=n, classes=1)
            (tmp_path / "src" / "digit_0").rename(root / name)
    with pytest.raises(UserError, match=message):
        scan_class_folders(root)


def test_read_image_converts_and_resizes(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "rgb.jpg")
    assert read_image(tmp_path / "rgb.jpg", 12, 1).shape == (12, 12, 1)
    assert read_image(tmp_path / "rgb.jpg", 12, 3).shape == (12, 12, 3)
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable image"):
        read_image(tmp_path / "bad.jpg", 12, 1)


def test_resize_batch_keeps_dtype_and_range():
    x = np.full((3, 8, 8, 1), 255, np.uint8)
    out = resize_batch(x, 16)
    assert out.shape == (3, 16, 16, 1) and out.dtype == np.uint8 and out.min() == 255


def test_a_16_bit_png_is_scaled_by_its_bit_depth_not_clipped(tmp_path):
    from PIL import Image

    from solutions.common.image_io import read_image

    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "scan16.png")
    with Image.open(tmp_path / "scan16.png") as img:
        assert img.mode.startswith("I")  # a 16-bit file indeed
    gray = read_image(tmp_path / "scan16.png", 8, 1)[..., 0]
    np.testing.assert_array_equal(gray, np.round(ramp / 65535 * 255).astype(np.uint8))
    assert len(np.unique(gray)) > 50  # clipping would leave almost everything at 255
    rgb = read_image(tmp_path / "scan16.png", 8, 3)
    np.testing.assert_array_equal(rgb[..., 0], gray)


def test_a_decompression_bomb_is_one_clear_error(tmp_path, monkeypatch):
    from PIL import Image

    from solutions.common.errors import UserError
    from solutions.common.image_io import read_image

    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 90,000 pixels > 2 x 1000: the bomb check fires
    with pytest.raises(UserError, match="too many pixels"):
        read_image(tmp_path / "big.png", 16, 1)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_photo_is_read_upright_by_its_exif_orientation(tmp_path, fmt):
    """Phones store a portrait photo sideways with an EXIF orientation tag; every viewer (and a
    MediaPipe app's camera frame) shows it upright, so training and `predict` read it upright."""
    from PIL import Image, ImageOps

    from tests.conftest import with_exif_orientation

    stored = np.zeros((16, 16, 3), np.uint8)
    stored[:4] = 255  # a bright top row of the stored pixels
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.{fmt.lower()}"
        path.write_bytes(with_exif_orientation(stored, fmt, orientation))
        got = read_image(path, 16, 3).astype(int)
        with Image.open(path) as img:  # Pillow's own reading of the tag, as a viewer shows the photo
            shown = np.asarray(ImageOps.exif_transpose(img).convert("RGB"), int)
        assert np.abs(got - shown).max() <= 1, orientation
        if orientation == 6:  # stored a quarter turn anticlockwise: its top row is the photo's right side
            assert got[:, -4:].mean() > 200 and got[:, :4].mean() < 50
    plain = tmp_path / f"plain.{fmt.lower()}"
    Image.fromarray(stored).save(plain, format=fmt)
    np.testing.assert_array_equal(read_image(plain, 16, 3), read_image(tmp_path / f"o1.{fmt.lower()}", 16, 3))


def test_damaged_exif_leaves_the_pixels_readable(tmp_path):
    """A broken EXIF block is metadata lost, not an unreadable image: the pixels come as stored."""
    import warnings

    from PIL import Image

    stored = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    for i, block in enumerate([b"Exif\0\0not a tiff header", b"Exif\0\0MM\0*\xff\xff\xff\xf0",
                               b"Exif\0\0II*\0\x08\0\0\0\x05\0\x12\x01"]):
        Image.fromarray(stored).save(tmp_path / f"{i}.png", exif=block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow says "Corrupt EXIF data"
            np.testing.assert_array_equal(read_image(tmp_path / f"{i}.png", 4, 3), stored)


def test_webp_files_train_like_the_others(tmp_path):
    """WebP, the web's own format (a scraped folder is full of it), is read, not skipped."""
    from PIL import Image

    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    png = root / "digit_1" / "0.png"
    with Image.open(png) as img:
        img.save(root / "digit_1" / "0.webp", lossless=True)
    expected = read_image(png, 8, 1)
    png.unlink()
    scan = scan_class_folders(root)
    x, y = load_scan(scan, 8, 1)
    assert not +scan.skipped and len(x) == 6 and np.bincount(y).tolist() == [3, 3]
    np.testing.assert_array_equal(read_image(root / "digit_1" / "0.webp", 8, 1), expected)


def _move_classes(src, dest, names):
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        (src / name).rename(dest / name)


def test_a_kaggle_style_split_folder_keeps_its_splits(tmp_path):
    """root/Train/<class>, root/valid/<class>, root/TEST/<class> (any case): the given splits, not
    three classes 'TEST', 'Train' and 'valid' learnt from where the files were put."""
    from solutions.common.solution import get_solution

    root = tmp_path / "data"
    for split, per_class in (("Train", 12), ("valid", 4), ("TEST", 5)):
        write_digit_pngs(tmp_path / f"src_{split}", per_class=per_class, classes=2)
        _move_classes(tmp_path / f"src_{split}", root / split, ["digit_0", "digit_1"])
    (root / "Train" / "unlabeled").mkdir()
    (root / "Train" / "unlabeled" / "x.png").write_bytes((root / "TEST" / "digit_0" / "0.png").read_bytes())
    scan = scan_class_folders(root)
    assert scan.class_names == ["digit_0", "digit_1"] and set(scan.parts) == {"train", "val", "test"}
    assert scan.skipped == {"unlabeled": 1}
    solution = get_solution("image-classification")
    splits = solution.load_folder(str(root), {"seed": 0, "val_split": 0.15, "test_split": 0.15})
    assert (len(splits.train.y), len(splits.val.y), len(splits.test.y)) == (24, 8, 10)
    assert splits.class_names == ["digit_0", "digit_1"] and np.bincount(splits.test.y).tolist() == [5, 5]
    assert splits.source["split"] == "train, validation and test folders as given"

    shutil.rmtree(root / "valid")  # train and an unlabelled test/ (Kaggle's): both carved out of train
    for image in (root / "TEST").rglob("*.png"):
        image.rename(root / "TEST" / f"{image.parent.name}_{image.name}")
    for folder in ("digit_0", "digit_1"):
        (root / "TEST" / folder).rmdir()
    scan = scan_class_folders(root)
    assert set(scan.parts) == {"train"} and scan.skipped == {"unlabeled": 11}  # 10 in TEST/, 1 in Train/unlabeled
    splits = solution.load_folder(str(root), {"seed": 0, "val_split": 0.25, "test_split": 0.25})
    assert (len(splits.train.y), len(splits.val.y), len(splits.test.y)) == (12, 6, 6)
    assert "a train folder only" in splits.source["split"]
    shutil.rmtree(root / "TEST")

    write_digit_pngs(tmp_path / "src_test2", per_class=5, classes=2)  # train and test: validation carved from train
    _move_classes(tmp_path / "src_test2", root / "test", ["digit_0", "digit_1"])
    splits = solution.load_folder(str(root), {"seed": 0, "val_split": 0.25, "test_split": 0.15})
    assert (len(splits.train.y), len(splits.val.y), len(splits.test.y)) == (18, 6, 10)
    assert "validation 25% of train" in splits.source["split"]


def test_class_folders_named_like_splits_stay_classes_unless_they_all_are(tmp_path):
    root = tmp_path / "vehicles"  # a class called "train", beside others, holding its images directly
    write_digit_pngs(tmp_path / "src", per_class=3, classes=3)
    (tmp_path / "src" / "digit_0").rename(root.parent / "tmp0")
    root.mkdir()
    (root.parent / "tmp0").rename(root / "train")
    (tmp_path / "src" / "digit_1").rename(root / "bus")
    (tmp_path / "src" / "digit_2").rename(root / "car")
    scan = scan_class_folders(root)
    assert scan.class_names == ["bus", "car", "train"] and not scan.parts


@pytest.mark.parametrize("layout, message", [
    ({"train": ["digit_0", "digit_1"], "test": ["digit_0", "digit_2"]}, r"\['digit_2'\] .* no training images"),
    ({"train": ["digit_0", "digit_1"], "val": ["digit_0"], "validation": ["digit_1"]}, "both name the val split"),
    ({"dataset": ["digit_0", "digit_1"]}, r"pass --data .*dataset"),
    ({"train": None, "test": None}, r"holds its files directly: put them in one sub-folder per class"),
    ({"train": ["digit_0", "digit_1"], "test": ["digit_0", "digit_1"], "chest_xray": ["digit_0", "digit_1"]},
     r"test/, train/ under .* look like split folders of classes, beside chest_xray/"),
])
def test_split_and_wrapper_folder_mistakes_are_clear_errors(tmp_path, layout, message):
    root = tmp_path / "data"
    for top, classes in layout.items():
        write_digit_pngs(tmp_path / f"src_{top}", per_class=3, classes=3)
        if classes is None:  # the images straight in the folder
            (tmp_path / f"src_{top}" / "digit_0").rename(root / top) if root.exists() else (
                root.mkdir(), (tmp_path / f"src_{top}" / "digit_0").rename(root / top))
        else:
            _move_classes(tmp_path / f"src_{top}", root / top, classes)
    with pytest.raises(UserError, match=message):
        scan_class_folders(root)


def test_a_tiny_given_validation_folder_joins_train(tmp_path):
    """Kaggle's chest X-ray val/ holds 16 images beside 5,216: too few to select an epoch on."""
    from solutions.common.data import Split, given_splits

    rng = np.random.default_rng(0)
    parts = {"train": Split(rng.random((500, 2)), np.repeat([0, 1], 250)),
             "val": Split(rng.random((4, 2)), np.array([0, 1, 0, 1])),
             "test": Split(rng.random((60, 2)), np.repeat([0, 1], 30))}
    train, val, test, how = given_splits(parts, val_fraction=0.1, test_fraction=0.15, seed=0)
    assert len(train.y) + len(val.y) == 504 and len(val.y) == 51 and len(test.y) == 60
    assert "validation folder's 4 examples" in how and "val" in parts  # the caller's dict is left as it was
    parts["val"] = Split(rng.random((20, 2)), np.repeat([0, 1], 10))  # 4% of train: kept as given
    train, val, test, how = given_splits(parts, val_fraction=0.1, test_fraction=0.15, seed=0)
    assert (len(train.y), len(val.y)) == (500, 20) and how == "train, validation and test folders as given"


def test_a_class_folder_without_images_is_named_when_it_is_left_out(tmp_path, capsys):
    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    (root / "empty").mkdir()
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("x")
    scan = scan_class_folders(root)
    assert scan.class_names == ["digit_0", "digit_1"] and scan.dropped == ["empty", "notes"]
    load_scan(scan, 8, 1)
    assert "Left out class folder(s) with no usable files: 'empty', 'notes'" in capsys.readouterr().out
    shutil.rmtree(root / "digit_1")
    with pytest.raises(UserError, match="only one class .* left out for holding no usable files: 'empty', 'notes'"):
        scan_class_folders(root)


def test_broken_links_and_files_outside_the_class_folders_are_counted(tmp_path):
    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    (root / "digit_0" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    shutil.copy(root / "digit_0" / "0.png", root / "stray.png")
    (root / ".DS_Store").write_bytes(b"\0")  # hidden: not data, not counted
    scan = scan_class_folders(root)
    assert len(scan.files) == 6 and scan.skipped == {"broken_link": 1, "outside_class_folders": 1}


def test_files_in_hidden_sub_folders_of_a_class_are_not_data(tmp_path):
    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    (root / "digit_0" / ".ipynb_checkpoints").mkdir()
    shutil.copy(root / "digit_0" / "0.png", root / "digit_0" / ".ipynb_checkpoints" / "0-checkpoint.png")
    (root / "digit_0" / "more").mkdir()
    shutil.copy(root / "digit_0" / "0.png", root / "digit_0" / "more" / "kept.png")
    files = sorted(p.relative_to(root).as_posix() for p, _ in scan_class_folders(root).files)
    assert "digit_0/more/kept.png" in files and not any(".ipynb" in f for f in files) and len(files) == 7


@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_16_bit_tiff_files_train_and_are_scaled_by_their_bit_depth(tmp_path, suffix):
    from PIL import Image

    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16)).save(root / "digit_0" / f"scan{suffix}")
    scan = scan_class_folders(root)
    assert (root / "digit_0" / f"scan{suffix}", 0) in scan.files and not scan.skipped
    x, _ = load_scan(scan, 8, 1)
    assert len(x) == 7 and read_image(root / "digit_0" / f"scan{suffix}", 8, 1).max() == 128


def test_class_names_are_nfc_and_two_spellings_of_one_name_are_refused(tmp_path):
    import unicodedata

    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    decomposed = unicodedata.normalize("NFD", "zéro")
    (root / "digit_1").rename(root / decomposed)
    assert scan_class_folders(root).class_names == ["digit_0", "zéro"]  # composed, as typed on other systems
    shutil.copytree(root / decomposed, root / "zéro")
    with pytest.raises(UserError, match="same name in two Unicode spellings"):
        scan_class_folders(root)


def test_a_file_that_cannot_be_opened_is_counted_unreadable_and_fingerprinted(tmp_path, monkeypatch):
    """As root, chmod 000 does not stop a read: the refusal is simulated at open()."""
    import builtins

    from solutions.common.catalogue import fingerprint_files

    root = write_digit_pngs(tmp_path / "d", per_class=3, classes=2)
    locked = root / "digit_0" / "1.png"
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    scan = scan_class_folders(root)
    x, _ = load_scan(scan, 8, 1)
    assert len(x) == 5 and scan.skipped == {"unreadable": 1}
    files = [p for p, _ in scan.files]
    before = fingerprint_files(files)  # used to die with "permission denied" (and advice about free space)
    monkeypatch.setattr(builtins, "open", real_open)
    assert fingerprint_files(files) != before  # readable again: the data changed


def test_split_folders_count_stray_files_and_name_empty_class_folders(tmp_path, capsys):
    root = tmp_path / "data"
    for split in ("train", "test"):
        write_digit_pngs(tmp_path / f"src_{split}", per_class=4, classes=2)
        _move_classes(tmp_path / f"src_{split}", root / split, ["digit_0", "digit_1"])
    (root / "test" / "digit_2").mkdir()  # a class folder with nothing in it yet
    shutil.copy(root / "train" / "digit_0" / "0.png", root / "stray.png")
    shutil.copy(root / "train" / "digit_0" / "0.png", root / "train" / "stray.png")
    scan = scan_class_folders(root)
    assert scan.skipped == {"outside_class_folders": 2} and scan.dropped == ["test/digit_2"]
    load_scan(scan.parts["test"], 8, 1, every_class=False)
    assert "'test/digit_2'" in capsys.readouterr().out


def test_a_float_tiff_is_scaled_by_its_own_range_not_read_black(tmp_path):
    """Microscopes write 32-bit float TIFFs (mode F); Pillow's conversion clipped them to black."""
    from PIL import Image

    ramp = np.linspace(100.0, 200.0, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(ramp, mode="F").save(tmp_path / "cells.tif")
    gray = read_image(tmp_path / "cells.tif", 8, 1)[..., 0]
    expected = (ramp.astype(np.float64) - 100.0) * 255 / (ramp.max() - 100.0)
    np.testing.assert_array_equal(gray, np.round(expected).astype(np.uint8))
    assert gray.min() == 0 and gray.max() == 255
