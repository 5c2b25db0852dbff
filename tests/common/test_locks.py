"""The run/search directory lock and the epoch log never write through a planted link."""

from __future__ import annotations

import os

import pytest

from solutions.common.errors import UserError
from solutions.common.locks import DirectoryLock
from solutions.common.training import _truncate_history


def test_a_link_planted_at_the_lock_is_refused_and_its_target_kept(tmp_path):
    """`.lock -> /etc/passwd` was opened and truncated to hold the PID (the process runs as root)."""
    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("IMPORTANT\n")
    (run / ".lock").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        DirectoryLock(run, "re-export").acquire()
    assert victim.read_text() == "IMPORTANT\n"


def test_a_directory_at_the_lock_is_refused(tmp_path):
    (tmp_path / ".lock").mkdir()
    with pytest.raises((UserError, IsADirectoryError)):
        DirectoryLock(tmp_path).acquire()


def test_the_lock_holds_the_pid_and_refuses_a_second_holder(tmp_path):
    with DirectoryLock(tmp_path, "run"):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
        with pytest.raises(UserError, match=f"in use by process {os.getpid()}"):
            DirectoryLock(tmp_path, "run").acquire()  # flock is per open file: a second open conflicts


def test_the_epoch_log_is_never_appended_through_a_link(tmp_path):
    victim = tmp_path / "victim.csv"
    victim.write_text("keep\n")
    log = tmp_path / "history-main.csv"
    log.symlink_to(victim)
    _truncate_history(log, 0)  # a fresh phase: the link goes, CSVLogger starts a file of its own
    assert not log.exists() and victim.read_text() == "keep\n"
    log.symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        _truncate_history(log, 2)  # a resume: the rows it names are not the run's
    assert victim.read_text() == "keep\n"
