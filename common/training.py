"""Shared training: optimizer with a warm-up + cosine schedule, callbacks, and resumable phases.

Each phase (one for a model trained from scratch; "head" then "finetune" for transfer learning)
keeps its own BackupAndRestore state, CSV log and a `.done` marker, so `--resume` continues in the
middle of a phase and never repeats a finished one. Early stopping watches the validation split
only, restores the best weights, and rebuilds its state from the CSV log after a restart.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from solutions.common.checkpoints import (AtomicBackupAndRestore, BestWeightsCheckpoint, load_weights_file,
                                         restore_committed_best, save_weights_atomic)
from solutions.common.errors import UserError
from solutions.common.files import remove_tree, write_text_atomic
from solutions.common.rundir import Run
from solutions.common.runtime import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402


@dataclass
class Phase:
    """One `fit` call: how many epochs, at what peak learning rate, after what change to the model."""

    name: str
    epochs: int
    learning_rate: float
    prepare: Callable[[keras.Model], None] | None = None


# AdamW's decoupled weight decay for every run (benchmarks/medical_tries.py: 0.05 gave no gain on PneumoniaMNIST).
WEIGHT_DECAY = 1e-4


def warmup_cosine(learning_rate: float, steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """A linear warm-up (5% of steps, from a tenth of the rate) into a cosine decay over the whole phase."""
    warmup = max(1, steps // 20)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10,
        decay_steps=max(1, steps - warmup),
        warmup_target=learning_rate,
        warmup_steps=warmup,
        alpha=0.01,
    )


def make_optimizer(learning_rate: float, steps: int, *, weight_decay: float = WEIGHT_DECAY) -> keras.optimizers.Optimizer:
    """AdamW on the warm-up + cosine schedule (`warmup_cosine`)."""
    return keras.optimizers.AdamW(learning_rate=warmup_cosine(learning_rate, steps), weight_decay=weight_decay)


def read_history(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def _truncate_history(path: Path, epochs_done: int) -> None:
    """Keep the CSV rows of the epochs the backup holds (a crash can land between the two writes).
    A link in its place is never written through (CSVLogger appends to whatever it names)."""
    if path.is_symlink():
        if epochs_done:
            raise UserError(f"{path} is a symbolic link, not the run's epoch log; remove it, or start the run anew")
        path.unlink()
    if epochs_done == 0:
        path.unlink(missing_ok=True)  # nothing committed: CSVLogger starts a fresh file with its header
        return
    if not path.exists():
        return
    with open(path, newline="") as f:  # raw rows: a half-written last row need not parse
        reader = csv.reader(f)
        header = next(reader, [])
        rows = list(reader)
    if len(rows) <= epochs_done:
        return
    kept = rows[:epochs_done]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(kept)
    write_text_atomic(path, out.getvalue())


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose wait/best/best weights survive a restart (rebuilt from the CSV log)."""

    def __init__(self, *, history_path: Path, best_weights_path: Path, **kwargs):
        super().__init__(**kwargs)
        self.history_path = history_path
        self.best_weights_path = best_weights_path

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        rows = read_history(self.history_path)
        if not rows or not self.best_weights_path.exists():
            return
        self._set_monitor_op()
        for row in rows:
            value = row.get(self.monitor)
            if value is None:
                continue
            self.wait += 1
            if not math.isnan(value) and self._is_improvement(value, self.best):  # NaN: never the best
                self.best, self.best_epoch, self.wait = value, int(row["epoch"]), 0
        current = self.model.get_weights()
        load_weights_file(self.model, self.best_weights_path)
        self.best_weights = self.model.get_weights()
        self.model.set_weights(current)


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """TensorBoard logs per epoch (its default `update_freq`), without the per-batch work Keras 3
    still does then: a `summary.scalar` per logged value after every batch, written nowhere since no
    writer is set between epochs, 3.6 ms a batch (2% of a digits epoch on 2 cores)."""

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs if self.update_freq != "epoch" else None)


def run_phases(
    model: keras.Model,
    compile_model: Callable[[keras.Model, keras.optimizers.Optimizer], None],
    phases: Sequence[Phase],
    steps_per_epoch: int,
    fit_phase: Callable[[Phase, int], None],
    *,
    skip: Callable[[Phase, int], bool] | None = None,
) -> None:
    """The one loop over training phases, for a run (`fit_phases`) and a tuning trial alike: each
    phase prepares the model (freezes or unfreezes a backbone), gets a fresh optimizer whose
    schedule spans its epochs, and is fitted by `fit_phase(phase, first_epoch)`, where
    `first_epoch` is the phase's start on the run's epoch axis; `skip(phase, first_epoch)` passes
    over a phase that needs no training (finished before a resume, or outside a trial's epochs)."""
    first_epoch = 0
    for phase in phases:
        if phase.prepare:
            phase.prepare(model)
        if not (skip and skip(phase, first_epoch)):
            compile_model(model, make_optimizer(phase.learning_rate, phase.epochs * steps_per_epoch))
            fit_phase(phase, first_epoch)
        first_epoch += phase.epochs


def fit_phases(
    model: keras.Model,
    compile_model: Callable[[keras.Model, keras.optimizers.Optimizer], None],
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    phases: Sequence[Phase],
    *,
    run: Run,
    monitor: str,
    mode: str,
    patience: int,
    steps_per_epoch: int,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    metric_callbacks: Sequence[keras.callbacks.Callback] = (),
    fit_kwargs: dict | None = None,
) -> list[dict[str, float]]:
    """Train through `phases`, resuming where a previous process stopped. Returns the epoch log.

    `metric_callbacks` add validation metrics to the epoch logs; they run first, so the log,
    checkpoint and early stopping see them.
    """
    ckpt = run / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    verbose = 1 if sys.stdout.isatty() else 2

    def finished(phase: Phase, first_epoch: int) -> bool:
        done_weights = ckpt / f"{phase.name}.done.weights.h5"
        if done_weights.exists():  # a resumed run: this phase ended before the interruption
            model.load_weights(done_weights)
        return done_weights.exists()

    def fit_phase(phase: Phase, first_epoch: int) -> None:
        history_path = ckpt / f"history-{phase.name}.csv"
        backup_dir = ckpt / f"backup-{phase.name}"
        meta = backup_dir / "training_metadata.json"
        # The log keeps exactly the epochs the backup committed (a kill can land between the two).
        _truncate_history(history_path, json.loads(meta.read_text())["epoch"] if meta.exists() else 0)
        best_path = ckpt / f"{phase.name}.best.weights.npz"
        restore_committed_best(backup_dir, best_path, model)
        past = [r[monitor] for r in read_history(history_path) if monitor in r and not math.isnan(r[monitor])]
        best_so_far = (min(past) if mode == "min" else max(past)) if past else None
        backup = AtomicBackupAndRestore(backup_dir, best_path)
        callbacks = [
            *metric_callbacks,
            keras.callbacks.CSVLogger(str(history_path), append=True),
            BestWeightsCheckpoint(best_path, monitor=monitor, mode=mode, initial_value_threshold=best_so_far),
            backup,  # after the log and best weights: commits the epoch
            ResumableEarlyStopping(
                history_path=history_path, best_weights_path=best_path, monitor=monitor, mode=mode,
                patience=patience, restore_best_weights=True, verbose=1,
            ),
            EpochTensorBoard(str(run / "logs" / phase.name), write_graph=False),
            *extra_callbacks,
        ]
        try:
            model.fit(train_ds, validation_data=val_ds, epochs=phase.epochs, callbacks=callbacks,
                      verbose=verbose, shuffle=False, **(fit_kwargs or {}))  # the pipeline shuffles, seeded
        except BaseException:
            # Keras skips on_train_end when fit raises: the epoch commit in flight lands before the
            # error reaches the caller, who may release the run's lock or resume in this process.
            with contextlib.suppress(Exception):  # the error that stopped training is the one to report
                backup.wait_for_commit()
            raise
        save_weights_atomic(model, ckpt / f"{phase.name}.done.weights.h5")
        remove_tree(backup_dir)

    run_phases(model, compile_model, phases, steps_per_epoch, fit_phase, skip=finished)
    return _combined_history(run, phases)


def _combined_history(run: Run, phases: Sequence[Phase]) -> list[dict[str, float]]:
    """All phases' logs as one history.csv with a running epoch number and the phase name."""
    rows: list[dict] = []
    for phase in phases:
        for row in read_history(run / "checkpoints" / f"history-{phase.name}.csv"):
            rows.append({"epoch": len(rows) + 1, "phase": phase.name,
                         **{k: v for k, v in row.items() if k != "epoch"}})
    if rows:
        keys = list(dict.fromkeys(k for row in rows for k in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(run / "history.csv", out.getvalue())
    return rows


def best_epoch(rows: list[dict], monitor: str, mode: str) -> int | None:
    values = [(r[monitor], r["epoch"]) for r in rows if monitor in r and not math.isnan(r[monitor])]
    if not values:
        return None
    return int((min(values) if mode == "min" else max(values))[1])


def best_validation(rows: list[dict], monitor: str, mode: str) -> dict[str, float]:
    """Every validation metric at the best epoch (what tuning compares runs by)."""
    epoch = best_epoch(rows, monitor, mode)
    row = next((r for r in rows if r["epoch"] == epoch), {})
    return {k: float(v) for k, v in row.items() if k.startswith("val_")}
