"""The two sides of a trial. The tuner process holds a `SpaceHyperModel`: the domain's search space
over its base options, and no data or model. Each trial's own process (solutions.tuning.trial_process) runs a
`SolutionHyperModel`: the domain's own `build_model`, `compile` and input pipelines with the options
the space chose, scored on the validation split only (a search never looks at the test split)."""

from __future__ import annotations

import sys
from typing import Any

import keras_tuner

from solutions.common.plan import before_data, with_data
from solutions.common.solution import Solution
from solutions.common.training import make_optimizer
from solutions.tuning.spaces import Space

import keras  # noqa: E402  (solutions.common.training imported TensorFlow quietly first)


class SpaceHyperModel(keras_tuner.HyperModel):
    """What the tuner needs to declare the search space: `build` draws the values, builds nothing."""

    def __init__(self, solution: Solution, options: dict[str, Any], space: Space):
        super().__init__(name=f"{solution.name}_hypermodel")
        self.solution, self.base, self.space = solution, options, space

    def trial_options(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The base options with this trial's values (what `solutions train` would get)."""
        return {**self.base, **self.space(hp, self.base)}

    def build(self, hp: keras_tuner.HyperParameters) -> None:
        self.trial_options(hp)


class SolutionHyperModel(SpaceHyperModel):
    """One trial's model and training, through the domain's hooks."""

    def __init__(self, solution: Solution, options: dict[str, Any], space: Space):
        super().__init__(solution, options, space)
        self._splits = None

    def plan_for(self, hp: keras_tuner.HyperParameters):
        """This trial's frozen plan; its data is loaded once (one trial per process)."""
        plan = before_data(self.solution, self.trial_options(hp))
        self.solution = self.solution.for_plan(plan)  # the trial's task (fixed by the search's options)
        if self._splits is None:
            self._splits = self.solution.load_splits(plan)
        return with_data(plan, self._splits), self._splits

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        options, splits = self.plan_for(hp)
        model = self.solution.build_model(options, splits)
        phases = self.solution.phases(model, options)
        steps = self.solution.steps_per_epoch(splits, options)
        self.solution.compile(model, make_optimizer(phases[0].learning_rate, options["epochs"] * steps))
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, callbacks=(), **kwargs) -> Any:
        """The domain's pipelines at this trial's batch size, early stopping on the domain's
        validation metric; a transfer-learning model runs its phases in turn (one history)."""
        options, splits = self.plan_for(hp)
        train_ds, val_ds = self.solution.training_datasets(splits, options)
        monitor, mode = self.solution.monitoring(options)
        stop = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=options["patience"],
                                             restore_best_weights=False)
        callbacks = [*self.solution.epoch_callbacks(splits, options), stop, *callbacks]
        fit_kwargs = {"verbose": 1 if sys.stdout.isatty() else 2, **self.solution.fit_options(splits, options),
                      **kwargs}
        epochs = fit_kwargs.pop("epochs", options["epochs"])
        phases = self.solution.phases(model, options)
        if len(phases) == 1:
            return model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, **fit_kwargs)
        start = fit_kwargs.pop("initial_epoch", 0)  # Hyperband continuing a promoted trial
        steps = self.solution.steps_per_epoch(splits, options)
        done, merged = 0, keras.callbacks.History()
        merged.history, merged.epoch = {}, []
        for phase in phases:  # e.g. frozen backbone, then fine-tuning
            end = min(done + phase.epochs, epochs)
            if phase.prepare:
                phase.prepare(model)
            if end > max(done, start):
                self.solution.compile(model, make_optimizer(phase.learning_rate, phase.epochs * steps))
                history = model.fit(train_ds, validation_data=val_ds, epochs=end, initial_epoch=max(done, start),
                                    callbacks=callbacks, **fit_kwargs)
                merged.epoch += history.epoch
                for key, values in history.history.items():
                    merged.history.setdefault(key, []).extend(values)
            done += phase.epochs
        return merged
