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
    """A kill during TFLite conversion left a SavedModel copy in /tmp each time."""
    import os
    import subprocess
    import tempfile
    import time

    from solutions.common.files import scratch_directory

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()  # a PID that has exited (and was reaped)
    old = time.time() - 3600
    dead = tmp_path / f"tflite-source-pid{gone.pid}-abc"
    recent = tmp_path / f"tflite-source-pid{gone.pid}-def"  # maybe another namespace's, still working
    mine = tmp_path / f"tflite-source-pid{os.getpid()}-ghi"
    other = tmp_path / "tflite-source-keep"
    for path in (dead, recent, mine, other):
        (path / "saved_model").mkdir(parents=True)
    for path in (dead, mine, other):
        os.utime(path, (old, old))
    with scratch_directory("tflite-source") as work:
        assert work.is_dir() and work.parent == tmp_path and f"pid{os.getpid()}-" in work.name
        assert not dead.exists() and recent.exists() and mine.exists() and other.exists()
    assert not work.exists()
