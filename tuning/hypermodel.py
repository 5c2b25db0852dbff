"""One KerasTuner HyperModel for every domain: a trial is the domain's own `build_model`,
`compile` and input pipelines with the options a search space chose, scored on the validation
split only (the test split is never looked at during a search)."""

from __future__ import annotations

import sys
from typing import Any

import keras_tuner

from common.solution import Solution
from common.training import make_optimizer
from tuning.spaces import Space

import keras  # noqa: E402  (common.training imported TensorFlow quietly first)

# Options that change the data a model sees: splits are reloaded when one of them changes.
DATA_OPTIONS = ("lookback", "horizon", "target", "sequence_length", "max_tokens", "model", "image_size", "task")


class SolutionHyperModel(keras_tuner.HyperModel):
    def __init__(self, solution: Solution, options: dict[str, Any], space: Space):
        super().__init__(name=f"{solution.name}_hypermodel")
        self.solution, self.base, self.space = solution, options, space
        self._splits = None
        self._data_key: tuple | None = None

    def trial_options(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The base options with this trial's values (what `solutions train` would get)."""
        return {**self.base, **self.space(hp, self.base)}

    def splits_for(self, options: dict[str, Any]):
        key = tuple(options.get(name) for name in DATA_OPTIONS)
        if key != self._data_key:
            self._splits, self._data_key = None, None  # the previous trial's data goes first
            self._splits = self.solution.load_splits(dict(options))
            self._data_key = key
        return self._splits

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        options = self.trial_options(hp)
        splits = self.splits_for(options)
        model = self.solution.build_model(dict(options), splits)
        phases = self.solution.phases(model, options)
        steps = self.solution.steps_per_epoch(splits, options)
        self.solution.compile(model, make_optimizer(phases[0].learning_rate, options["epochs"] * steps))
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, callbacks=(), **kwargs) -> Any:
        """The domain's pipelines at this trial's batch size, early stopping on the domain's
        validation metric; a transfer-learning model runs its phases in turn."""
        options = self.trial_options(hp)
        splits = self.splits_for(options)
        train_ds, val_ds = self.solution.training_datasets(splits, options)
        monitor, mode = self.solution.monitoring(options)
        stop = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=options["patience"],
                                             restore_best_weights=False)
        metric_callbacks = self.solution.epoch_callbacks(splits, options)
        fit_kwargs = {"verbose": 1 if sys.stdout.isatty() else 2, **self.solution.fit_options(splits, options),
                      **kwargs}
        epochs = fit_kwargs.pop("epochs", options["epochs"])
        phases = self.solution.phases(model, options)
        if len(phases) == 1:
            return model.fit(train_ds, validation_data=val_ds, epochs=epochs,
                             callbacks=[*metric_callbacks, stop, *callbacks], **fit_kwargs)
        steps = self.solution.steps_per_epoch(splits, options)
        done, history = 0, None
        for phase in phases:  # e.g. frozen backbone, then fine-tuning
            if phase.prepare:
                phase.prepare(model)
            self.solution.compile(model, make_optimizer(phase.learning_rate, phase.epochs * steps))
            history = model.fit(train_ds, validation_data=val_ds, epochs=done + phase.epochs, initial_epoch=done,
                                callbacks=[*metric_callbacks, stop, *callbacks], **fit_kwargs)
            done += phase.epochs
        return history
