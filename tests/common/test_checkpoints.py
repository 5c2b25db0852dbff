"""The best weights are committed with their epoch: a resumed phase never keeps best weights from
an epoch that was lost (killed between the best file's rename and the epoch's commit)."""

import json

import pytest

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


def test_restoring_best_weights_already_linked_leaves_no_temporary_file(tmp_path):
    """The best file is often a hard link to the committed one: a resume left a 1 MB hidden temp
    in every finished run (rename(2) of one link over its twin is a no-op)."""
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "best-0002.weights.npz").write_bytes(b"best as of epoch 2")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "best": "best-0002.weights.npz"}))
    best = tmp_path / "phase.best.weights.npz"
    for _ in range(2):  # once as a copy, once as the link the first restore made
        restore_committed_best(backup, best)
        assert best.read_bytes() == b"best as of epoch 2"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "phase.best.weights.npz"]


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

    from solutions.common.checkpoints import load_state, state_arrays, write_state_atomic
    from solutions.common.errors import UserError

    def model(width):
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width), keras.layers.Dense(1)])
        m.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="mse")
        return m

    x, y = np.random.default_rng(0).random((32, 3)), np.ones((32, 1))
    trained = model(4)
    trained.fit(x, y, epochs=2, verbose=0)
    path = write_state_atomic(tmp_path / "epoch-0002.state.npz", *state_arrays(trained))
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


def _trained_model(width: int = 4):
    import keras
    import numpy as np

    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="mse")
    m.fit(np.random.default_rng(0).random((32, 3)), np.ones((32, 1)), epochs=1, verbose=0)
    return m


def _backup(tmp_path, model, best=None):
    from solutions.common.checkpoints import AtomicBackupAndRestore

    callback = AtomicBackupAndRestore(tmp_path / "backup", best)
    callback.set_model(model)
    return callback


@pytest.mark.parametrize("suffix", [".weights.npz", ".weights.h5"])  # the kit's, and a run begun by an older version
def test_an_epoch_is_committed_in_the_background_as_it_was_at_the_epochs_end(suffix, tmp_path, monkeypatch):
    """The epoch's end returns before its state is written, from a copy taken then: weights that
    change meanwhile (the next epoch training) do not reach it; the metadata names the newest epoch
    and older files go once it is committed."""
    import threading

    import numpy as np

    from solutions.common import checkpoints
    from solutions.common.checkpoints import load_state, write_weights_atomic

    model = _trained_model()
    best = tmp_path / f"phase.best{suffix}"
    model.save_weights(best) if suffix == ".weights.h5" else write_weights_atomic(model, best)
    callback = _backup(tmp_path, model, best)
    callback.on_epoch_end(0)
    callback.wait_for_commit()
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [
        f"best-0001{suffix}", "epoch-0001.state.npz", "training_metadata.json"]
    at_epoch_end = [np.asarray(v).copy() for v in model.variables]
    trained_on, real_write = threading.Event(), checkpoints.write_state_atomic

    def held_write(*args):
        assert trained_on.wait(timeout=60), "the epoch's end waited for its own commit"
        return real_write(*args)

    monkeypatch.setattr(checkpoints, "write_state_atomic", held_write)
    callback.on_epoch_end(1)  # returns while its write is held
    for v in model.trainable_variables:  # the next epoch trains on
        v.assign(np.full(v.shape, 7.0, np.float32))
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 1  # not committed yet
    trained_on.set()
    callback.on_train_end()
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta == {"epoch": 2, "batch": 0, "weights": "epoch-0002.state.npz", "best": f"best-0002{suffix}"}
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [
        f"best-0002{suffix}", "epoch-0002.state.npz", "training_metadata.json"]
    fresh = _trained_model()
    load_state(fresh, tmp_path / "backup" / "epoch-0002.state.npz")
    for saved, restored in zip(at_epoch_end, fresh.variables):
        np.testing.assert_array_equal(saved, np.asarray(restored))


def test_a_failed_background_commit_is_raised_on_the_training_thread_and_leaves_the_last_one(tmp_path, monkeypatch):
    import errno

    import pytest

    from solutions.common import checkpoints

    model = _trained_model()
    callback = _backup(tmp_path, model)
    callback.on_epoch_end(0)
    callback.wait_for_commit()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "write_state_atomic", full_disk)
    callback.on_epoch_end(1)  # returns: the write runs in the background
    with pytest.raises(OSError, match="No space left"):
        callback.on_epoch_end(2)  # the next commit first waits for this one, and raises its error
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 1 and (tmp_path / "backup" / meta["weights"]).exists()
    callback.on_epoch_end(3)
    with pytest.raises(OSError, match="No space left"):
        callback.on_train_end()  # the end of fit waits too


def _with_batch_norm():
    import keras
    import numpy as np

    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.random.default_rng(0).random((32, 3)), np.ones((32, 1)), epochs=1, verbose=0)
    return m


def test_best_weights_are_written_only_on_a_strict_improvement_and_read_back_exactly(tmp_path, monkeypatch):
    """The .npz best weights: written when the monitored value beats every earlier epoch and the
    initial threshold (never for NaN), and read back with BatchNorm statistics."""
    import numpy as np

    from solutions.common import checkpoints
    from solutions.common.checkpoints import BestWeightsCheckpoint, load_weights_file

    model = _with_batch_norm()
    path = tmp_path / "main.best.weights.npz"
    checkpoint = BestWeightsCheckpoint(path, monitor="val_auc", mode="max", initial_value_threshold=0.5)
    checkpoint.set_model(model)
    writes = []
    monkeypatch.setattr(checkpoints, "write_weights_atomic",
                        lambda m, p, real=checkpoints.write_weights_atomic: writes.append(p) or real(m, p))
    written = []
    for epoch, value in enumerate([0.4, 0.6, 0.6, float("nan"), 0.7, 0.65]):
        before = len(writes)
        checkpoint.on_epoch_end(epoch, {"val_auc": value, "loss": 1.0})
        if len(writes) > before:
            written.append(epoch)
            saved = [np.asarray(w).copy() for w in model.weights]
        for w in model.weights:  # the model moves on after every epoch
            w.assign(np.asarray(w) + 1.0)
    assert written == [1, 4] and checkpoint.best == 0.7
    load_weights_file(model, path)
    for expected, restored in zip(saved, model.weights):
        np.testing.assert_array_equal(expected, np.asarray(restored))
    assert len(saved) == 8  # two Dense kernels and biases, BatchNorm's gamma, beta, mean and variance


def test_best_weights_refuse_a_metric_the_training_does_not_log(tmp_path):
    import pytest

    from solutions.common.checkpoints import BestWeightsCheckpoint
    from solutions.common.errors import UserError

    checkpoint = BestWeightsCheckpoint(tmp_path / "b.weights.npz", monitor="val_auc", mode="max")
    checkpoint.set_model(_with_batch_norm())
    with pytest.raises(UserError, match="monitors 'val_auc'.*logs loss, val_loss"):
        checkpoint.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})


def test_hdf5_best_weights_committed_by_an_older_version_are_converted_for_the_resume(tmp_path):
    """A run interrupted under the HDF5 format resumes with its committed best weights, as .npz; the
    model's own weights are left as they were."""
    import numpy as np

    from solutions.common.checkpoints import load_weights_file

    model = _with_batch_norm()
    backup = tmp_path / "backup"
    backup.mkdir()
    model.save_weights(backup / "best-0002.weights.h5")
    best = [np.asarray(w).copy() for w in model.weights]
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "weights": "epoch-0002.state.npz",
                                                               "best": "best-0002.weights.h5"}))
    for w in model.weights:
        w.assign(np.asarray(w) - 3.0)
    current = [np.asarray(w).copy() for w in model.weights]
    target = tmp_path / "main.best.weights.npz"
    restore_committed_best(backup, target, model)
    for expected, now in zip(current, model.weights):
        np.testing.assert_array_equal(expected, np.asarray(now))
    load_weights_file(model, target)
    for expected, restored in zip(best, model.weights):
        np.testing.assert_array_equal(expected, np.asarray(restored))


def test_a_nan_threshold_from_the_log_never_blocks_the_best_weights(tmp_path):
    from solutions.common.checkpoints import BestWeightsCheckpoint

    checkpoint = BestWeightsCheckpoint(tmp_path / "b.weights.npz", monitor="val_loss", mode="min",
                                       initial_value_threshold=float("nan"))
    checkpoint.set_model(_with_batch_norm())
    checkpoint.on_epoch_end(0, {"val_loss": 3.0})
    assert checkpoint.best == 3.0 and (tmp_path / "b.weights.npz").exists()


def test_best_weights_of_a_backup_older_than_committed_best_weights_are_converted(tmp_path):
    """A backup whose metadata names no best weights (the oldest format) resumes with the HDF5 best
    file that stood beside it, now as .npz."""
    import numpy as np

    from solutions.common.checkpoints import load_weights_file

    model = _with_batch_norm()
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    model.save_weights(tmp_path / "main.best.weights.h5")
    best = [np.asarray(w).copy() for w in model.weights]
    for w in model.weights:
        w.assign(np.asarray(w) + 2.0)
    target = tmp_path / "main.best.weights.npz"
    restore_committed_best(tmp_path / "backup", target, model)
    assert target.exists()
    load_weights_file(model, target)
    for expected, restored in zip(best, model.weights):
        np.testing.assert_array_equal(expected, np.asarray(restored))
