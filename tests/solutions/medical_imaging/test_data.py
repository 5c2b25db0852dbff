"""MedMNIST files (real PneumoniaMNIST from the data directory) and DICOM decoding."""

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.medical_imaging.data import load_medmnist, read_dicom, read_medmnist_npz
from tests.conftest import require_data
from tests.solutions.medical_imaging.dicom_files import write_dicom, write_multiframe_dicom


def test_pneumoniamnist_keeps_the_publishers_split():
    require_data("medmnist/pneumoniamnist.npz")
    splits = load_medmnist("pneumoniamnist", {"data_dir": None})
    assert splits.sizes() == {"train": 4708, "val": 524, "test": 624}
    assert splits.class_names == ["normal", "pneumonia"]
    assert np.bincount(splits.test.y).tolist() == [234, 390]
    assert splits.train.x.shape[1:] == (28, 28, 1) and splits.train.x.dtype == np.uint8


def test_npz_without_the_expected_keys_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(UserError, match="missing keys"):
        read_medmnist_npz(tmp_path / "x.npz", None, "x")
    (tmp_path / "y.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable .npz"):
        read_medmnist_npz(tmp_path / "y.npz", None, "y")


def test_multilabel_npz_is_refused(tmp_path):
    parts = {f"{p}_images": np.zeros((4, 28, 28), np.uint8) for p in ("train", "val", "test")}
    parts.update({f"{p}_labels": np.zeros((4, 14), np.uint8) for p in ("train", "val", "test")})
    np.savez(tmp_path / "chest.npz", **parts)
    with pytest.raises(UserError, match="multi-label"):
        read_medmnist_npz(tmp_path / "chest.npz", None, "chest")


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    ramp = np.tile(np.arange(0, 1000, 1000 / 32), (32, 1))
    plain = read_dicom(write_dicom(tmp_path / "a.dcm", ramp), 32, 1)[..., 0]
    assert plain[:, 0].mean() < 5 and plain[:, -1].mean() > 245  # min-max without a window
    inverted = read_dicom(write_dicom(tmp_path / "b.dcm", ramp, monochrome1=True), 32, 1)[..., 0]
    assert inverted[:, 0].mean() > 245 and inverted[:, -1].mean() < 5
    # stored 0..999 -> HU -1000..-1; a window of centre -750, width 500 spans stored 0..500
    windowed = read_dicom(write_dicom(tmp_path / "c.dcm", ramp, intercept=-1000, window=(-750, 500)), 32, 1)[..., 0]
    assert windowed[:, -1].mean() == 255 and windowed[:, 8].mean() < windowed[:, 12].mean() < 255


def test_dicom_without_pixels_or_not_dicom(tmp_path):
    with pytest.raises(UserError, match="no pixel data"):
        read_dicom(write_dicom(tmp_path / "sr.dcm", None), 28, 1)
    (tmp_path / "fake.dcm").write_bytes(b"hello")
    with pytest.raises(UserError, match="not a readable DICOM"):
        read_dicom(tmp_path / "fake.dcm", 28, 1)


def test_a_colour_cine_is_read_by_its_middle_frame(tmp_path):
    """An ultrasound cine (4 RGB frames) used to crash Pillow with a (1, 1, 16, 3) array."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.uint8)
    frames = np.broadcast_to(colours[:, None, None, :], (4, 16, 16, 3))
    path = write_multiframe_dicom(tmp_path / "cine.dcm", frames)
    assert read_dicom(path, 8, 3).reshape(-1, 3).tolist() == [[0, 0, 255]] * 64  # frame 4 // 2 = 2
    assert read_dicom(path, 8, 1).shape == (8, 8, 1)


def test_a_narrow_grey_series_is_not_read_as_one_rgb_image(tmp_path):
    """Five 16x3 grey frames have the shape (5, 16, 3) of a 5x16 RGB image: the tags decide."""
    frames = np.stack([np.full((16, 3), 100 * (i + 1)) for i in range(5)])
    frames[2, :, 0] = 0  # the middle frame, dark in its first column
    image = read_dicom(write_multiframe_dicom(tmp_path / "narrow.dcm", frames), 6, 1)[..., 0]
    assert image[:, 0].mean() < image[:, -1].mean() == 255


def test_undecodable_dicom_pixels_are_a_clear_error_and_a_counted_skip(tmp_path, monkeypatch):
    from solutions.common.image_io import FolderScan, load_scan
    import pydicom

    good = write_dicom(tmp_path / "a" / "ok.dcm", np.arange(64).reshape(8, 8))
    bad = write_dicom(tmp_path / "a" / "odd.dcm", np.arange(64).reshape(8, 8))
    ds = pydicom.dcmread(bad)
    ds.SamplesPerPixel = 4  # pixel data whose tags no image layout fits
    ds.save_as(bad)
    with pytest.raises(UserError, match="odd.dcm: DICOM pixel data"):
        read_dicom(bad, 8, 1)
    scan = FolderScan(["a"], [(good, 0), (bad, 0)])
    x, _ = load_scan(scan, 8, 1, reader=read_dicom)
    assert len(x) == 1 and scan.skipped == {"corrupt": 1}


def test_a_zero_window_width_falls_back_to_min_max(tmp_path):
    """Width 0 (below the standard's minimum of 1) would threshold the image to black and white."""
    ramp = np.tile(np.arange(0, 1000, 1000 / 32), (32, 1))
    image = read_dicom(write_dicom(tmp_path / "w0.dcm", ramp, window=(2000, 0)), 32, 1)[..., 0]
    assert image[:, 0].mean() < 5 and 100 < image[:, 16].mean() < 155 and image[:, -1].mean() > 245
