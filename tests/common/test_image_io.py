import numpy as np
import pytest

from common.errors import UserError
from common.image_io import load_scan, read_image, resize_batch, scan_class_folders
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
