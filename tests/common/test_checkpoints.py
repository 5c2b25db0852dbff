"""The best weights are committed with their epoch: a resumed phase never keeps best weights from
an epoch that was lost (killed between the best file's rename and the epoch's commit)."""

import json

from solutions.common.checkpoints import restore_committed_best


def test_best_weights_from_a_lost_epoch_are_replaced_by_the_committed_ones(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "best-0002.weights.h5").write_bytes(b"best as of epoch 2")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "weights": "epoch-0002.weights.h5",
                                                               "best": "best-0002.weights.h5"}))
    best = tmp_path / "phase.best.weights.h5"
    best.write_bytes(b"from epoch 3, never committed")
    restore_committed_best(backup, best)
    assert best.read_bytes() == b"best as of epoch 2"
    assert (backup / "best-0002.weights.h5").read_bytes() == b"best as of epoch 2"


def test_nothing_committed_means_no_best_weights(tmp_path):
    best = tmp_path / "phase.best.weights.h5"
    best.write_bytes(b"from epoch 1, never committed")
    restore_committed_best(tmp_path / "backup", best)
    assert not best.exists()


def test_a_backup_of_the_previous_version_is_left_as_it_was(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    best = tmp_path / "phase.best.weights.h5"
    best.write_bytes(b"kept")
    restore_committed_best(backup, best)
    assert best.read_bytes() == b"kept"
