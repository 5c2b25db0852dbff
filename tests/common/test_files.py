"""Outputs written beside a user's files never replace one (predict --explain overlays)."""

from solutions.common.files import unused_path


def test_existing_files_are_kept_and_same_names_get_their_own_path(tmp_path):
    (tmp_path / "scan.gradcam.png").write_bytes(b"the user's")
    first = unused_path(tmp_path, "scan.gradcam", ".png")
    second = unused_path(tmp_path, "scan.gradcam", ".png")
    assert (tmp_path / "scan.gradcam.png").read_bytes() == b"the user's"
    assert first.name == "scan.gradcam-2.png" and second.name == "scan.gradcam-3.png"


def test_a_missing_directory_is_created(tmp_path):
    assert unused_path(tmp_path / "new", "x", ".png") == tmp_path / "new" / "x.png"
