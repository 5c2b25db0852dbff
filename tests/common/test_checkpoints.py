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


def test_the_training_state_round_trips_and_refuses_another_model(tmp_path):
    """Weights and optimizer state (its step count too) come back exactly from the per-epoch .npz;
    a state written by a model of other shapes is one clear error, not a silent partial load."""
    import numpy as np
    import keras
    import pytest

    from solutions.common.checkpoints import load_state, save_state_atomic
    from solutions.common.errors import UserError

    def model(width):
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width), keras.layers.Dense(1)])
        m.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="mse")
        return m

    x, y = np.random.default_rng(0).random((32, 3)), np.ones((32, 1))
    trained = model(4)
    trained.fit(x, y, epochs=2, verbose=0)
    path = save_state_atomic(trained, tmp_path / "epoch-0002.state.npz")
    fresh = model(4)
    fresh.optimizer.build(fresh.trainable_variables)
    load_state(fresh, path)
    for a, b in zip(trained.variables + trained.optimizer.variables, fresh.variables + fresh.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(fresh.optimizer.iterations) == 2
    other = model(5)
    other.optimizer.build(other.trainable_variables)
    with pytest.raises(UserError, match="another model"):
        load_state(other, path)
    assert not list(tmp_path.glob(".*tmp*"))  # written under a temporary name, renamed
    damaged = tmp_path / "damaged.state.npz"
    damaged.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="cannot be read"):
        load_state(fresh, damaged)
