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


def test_scratch_directories_of_killed_processes_do_not_pile_up(tmp_path, monkeypatch):
    """A kill during TFLite conversion left a SavedModel copy in /tmp each time. A directory whose
    owner still holds its lock, a young one, and one without the kit's lock file are kept."""
    import fcntl
    import os
    import tempfile
    import time

    from solutions.common.files import SCRATCH_LOCK, scratch_directory

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = time.time() - 3600
    dead, busy, young, foreign = (tmp_path / f"tflite-source-{name}" for name in ("dead", "busy", "young", "foreign"))
    for path in (dead, busy, young, foreign):
        (path / "saved_model").mkdir(parents=True)
    for path in (dead, busy, young):
        (path / SCRATCH_LOCK).write_text("")
    held = os.open(busy / SCRATCH_LOCK, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # a process at work (another namespace's PIDs do not matter)
    for path in (dead, busy, foreign):
        os.utime(path, (old, old))
    try:
        with scratch_directory("tflite-source") as work:
            assert work.is_dir() and work.parent == tmp_path and (work / SCRATCH_LOCK).exists()
            assert not dead.exists() and busy.exists() and young.exists() and foreign.exists()
        assert not work.exists()
    finally:
        os.close(held)
