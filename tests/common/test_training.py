"""The kit's learning-rate schedule and optimizer (`common/training.py`)."""

import json

import pytest

from solutions.common import training


def test_schedule_warms_up_from_a_tenth_peaks_at_the_rate_and_decays_to_a_hundredth():
    schedule = training.warmup_cosine(0.01, steps=200)  # 10 warm-up steps (5%)
    rates = [float(schedule(step)) for step in range(0, 201)]
    assert rates[0] == pytest.approx(0.001)
    assert rates[10] == pytest.approx(0.01) and max(rates) == pytest.approx(0.01)
    assert all(a <= b + 1e-12 for a, b in zip(rates[:10], rates[1:11]))  # rising during warm-up
    assert all(a >= b - 1e-12 for a, b in zip(rates[10:], rates[11:]))  # then falling
    assert rates[-1] == pytest.approx(0.0001)  # alpha 0.01 of the peak


def test_make_optimizer_is_adamw_on_that_schedule_with_the_kits_decay():
    optimizer = training.make_optimizer(0.003, steps=100)
    assert type(optimizer).__name__ == "AdamW" and optimizer.weight_decay == training.WEIGHT_DECAY
    assert float(optimizer._learning_rate(5)) == pytest.approx(0.003)
    assert training.make_optimizer(0.003, steps=100, weight_decay=0.05).weight_decay == 0.05


def test_a_fit_that_raises_waits_for_the_epoch_commit_in_flight(tmp_path, monkeypatch):
    """Keras skips on_train_end when fit raises (an interrupt, an error in a callback): the epoch
    already committed in the background is on disk before the error reaches the caller, who may
    then release the run's lock or resume in the same process."""
    import time

    import keras
    import numpy as np
    import pytest
    import tensorflow as tf

    from solutions.common import checkpoints
    from solutions.common.rundir import Run
    from solutions.common.training import Phase, fit_phases

    real_write = checkpoints.write_state_atomic

    def slow_write(*args):
        time.sleep(1.5)  # a large state on a slow disk: still in flight when the next epoch fails
        return real_write(*args)

    class FailsInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("a callback failed")

    monkeypatch.setattr(checkpoints, "write_state_atomic", slow_write)
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices((rng.random((32, 3), np.float32), rng.random((32, 1), np.float32)))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    (tmp_path / "run").mkdir()
    with pytest.raises(RuntimeError, match="a callback failed"):
        fit_phases(model, lambda m, optimizer: m.compile(optimizer=optimizer, loss="mse"), data.batch(8),
                   data.batch(8), [Phase("train", 3, 1e-2)], run=Run(tmp_path / "run"), monitor="val_loss",
                   mode="min", patience=5, steps_per_epoch=4, extra_callbacks=[FailsInSecondEpoch()])
    backup = tmp_path / "run" / "checkpoints" / "backup-train"
    meta = json.loads((backup / "training_metadata.json").read_text())
    assert meta["epoch"] == 1 and (backup / meta["weights"]).exists()


def test_epoch_tensorboard_skips_the_per_batch_scalars_that_nothing_records(tmp_path, monkeypatch):
    """With epoch updates, Keras 3's TensorBoard still calls summary.scalar for every logged value
    after every batch; none is written (no writer is set then). The epoch summaries still are."""
    import numpy as np

    import keras

    from solutions.common.training import EpochTensorBoard

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    board = EpochTensorBoard(str(tmp_path / "logs"), write_graph=False)
    calls = []
    real = board.summary.scalar

    def counted(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(board.summary, "scalar", counted)
    x = np.random.default_rng(0).random((64, 3))
    model.fit(x, np.ones((64, 1)), batch_size=8, epochs=2, validation_data=(x[:8], np.ones((8, 1))),
              callbacks=[board], verbose=0)
    assert not [c for c in calls if c.startswith("batch_")], calls
    assert "epoch_loss" in calls and list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))


def test_early_stopping_rebuilt_from_a_log_with_nan_keeps_the_finite_best(tmp_path):
    """A NaN epoch in the log (a diverged first epoch) is never the best one after a resume."""
    import keras
    import numpy as np

    from solutions.common.checkpoints import write_weights_atomic

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    history = tmp_path / "history-main.csv"
    history.write_text("epoch,loss,val_loss\n1,nan,nan\n2,1.0,0.5\n3,0.9,0.7\n")
    best = tmp_path / "main.best.weights.npz"
    write_weights_atomic(model, best)
    stopping = training.ResumableEarlyStopping(history_path=history, best_weights_path=best, monitor="val_loss",
                                               mode="min", patience=5, restore_best_weights=True)
    stopping.set_model(model)
    stopping.on_train_begin()
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.5, 2, 1)
    assert np.isfinite(stopping.best) and stopping.best_weights is not None
