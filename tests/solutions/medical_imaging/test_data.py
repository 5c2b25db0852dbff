"""MedMNIST files (real PneumoniaMNIST from the data directory) and DICOM decoding."""

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.medical_imaging.data import load_medmnist, read_dicom, read_medmnist_npz
from tests.conftest import require_data
from tests.solutions.medical_imaging.dicom_files import write_dicom


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
