"""The two sides of a trial. The tuner process holds a `SpaceHyperModel`: the domain's search space
over its base options, and no data or model. Each trial's own process (solutions.tuning.trial_process) runs a
`SolutionHyperModel`: the domain's own `build_model`, `compile` and input pipelines with the options
the space chose, scored on the validation split only (a search never looks at the test split)."""

from __future__ import annotations

import sys
from typing import Any, Sequence

import keras_tuner

from solutions.common.pipeline import fit_pipelines
from solutions.common.plan import before_data, with_data, with_model
from solutions.common.solution import Solution
from solutions.common.training import make_optimizer, run_phases
from solutions.tuning.spaces import Space

import keras  # noqa: E402  (solutions.common.training imported TensorFlow quietly first)

DEFAULTS = "tuner/defaults"  # a trial's marker: it trains the search's own options, as `solutions train` would


def _a_point_of(hp: Any, value: Any) -> bool:
    """Whether `value` is a point of `hp`'s range (a Choice among its values, a number within its
    bounds): only such a value can be told to Bayesian optimisation's model of the space."""
    try:
        return 0.0 <= float(hp.value_to_prob(value)) <= 1.0
    except (ValueError, TypeError, ZeroDivisionError):
        return False


def _plain(value: Any) -> Any:
    """A value as JSON keeps it (a NumPy scalar as its Python number; anything else as text)."""
    value = value.item() if hasattr(value, "item") else value
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


class SpaceHyperModel(keras_tuner.HyperModel):
    """What the tuner needs to declare the search space: `build` draws the values, builds nothing."""

    def __init__(self, solution: Solution, options: dict[str, Any], space: Space, fixed: Sequence[str] = ()):
        super().__init__(name=f"{solution.name}_hypermodel")
        self.solution, self.base, self.space, self.fixed = solution, options, space, tuple(fixed)

    def trial_options(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The base options with this trial's values (what `solutions train` would get). A `fixed`
        name is registered first at its base value, so the space's own declaration of it returns
        that value (KerasTuner keeps the first declaration of a name)."""
        for name in self.fixed:
            hp.Fixed(name, self.base[name])
        drawn = self.space(hp, self.base)
        if hp.values.get(DEFAULTS):  # the search's first trial: the options as given, unset ones chosen as train does
            return dict(self.base)
        return {**self.base, **drawn}

    def _searched_defaults(self) -> list[tuple[Any, Any]]:
        """Each searched hyperparameter with its default before any data is read (None: the data or
        the model chooses it)."""
        hp = keras_tuner.HyperParameters()
        self.trial_options(hp)
        plan = before_data(self.solution, self.base)
        return [(item, plan.get(item.name)) for item in hp.space]

    def default_values(self) -> dict[str, Any]:
        """The values of a new search's first trial, which trains the defaults (the options as given), so
        the summary can say whether the search beat them. KerasTuner needs a value for every searched
        name: one the defaults leave to the data or the model, or set outside the space, is given the
        space's own default, which only the oracle's model of the space reads; the trial itself
        trains what `solutions train` would."""
        values = {item.name: value if value is not None and _a_point_of(item, value) else item.default
                  for item, value in self._searched_defaults()}
        return {**values, DEFAULTS: True}

    def default_options(self) -> dict[str, Any]:
        """The searched names' defaults before any data is read: what the defaults' row shows where
        its trial's own report is not at hand."""
        return {item.name: value for item, value in self._searched_defaults()}

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
        validation metric, through the shared phase loop (a transfer-learning model's phases in
        turn, one history)."""
        options, splits = self.plan_for(hp)
        options = with_model(options, model)
        self.ran = {item.name: _plain(options.get(item.name)) for item in hp.space}  # what the trial trained with
        train_ds, val_ds = fit_pipelines(self.solution.training_datasets(splits, options))
        monitor, mode = self.solution.monitoring(options)
        stop = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=options["patience"],
                                             restore_best_weights=False)
        callbacks = [*self.solution.epoch_callbacks(splits, options), stop, *callbacks]
        fit_kwargs = {"verbose": 1 if sys.stdout.isatty() else 2, **self.solution.fit_options(splits, options),
                      **kwargs}
        epochs = fit_kwargs.pop("epochs", options["epochs"])
        start = fit_kwargs.pop("initial_epoch", 0)  # Hyperband continuing a promoted trial
        merged = keras.callbacks.History()
        merged.history, merged.epoch = {}, []

        phases = self.solution.phases(model, options)

        def end(phase, first_epoch: int) -> int:  # the last phase runs to the trial's epochs
            return epochs if phase is phases[-1] else min(first_epoch + phase.epochs, epochs)

        def outside(phase, first_epoch: int) -> bool:
            return end(phase, first_epoch) <= max(first_epoch, start)

        def fit_phase(phase, first_epoch: int) -> None:
            history = model.fit(train_ds, validation_data=val_ds, epochs=end(phase, first_epoch),
                                initial_epoch=max(first_epoch, start), callbacks=callbacks, **fit_kwargs)
            merged.epoch += history.epoch
            for key, values in history.history.items():
                merged.history.setdefault(key, []).extend(values)

        run_phases(model, self.solution.compile, phases, self.solution.steps_per_epoch(splits, options), fit_phase,
                   skip=outside)
        return merged
