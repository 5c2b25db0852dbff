"""The three KerasTuner searches behind `--tuner`, with two additions the stock ones lack: the
oracle remembers which tuner (worker) ran each trial, so the chief's trial table can say, and each
trial runs in a process of its own, so that memory does not pile up over a search."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import keras_tuner
from keras_tuner.src.engine import trial as trial_module

from solutions.common.errors import UserError
from solutions.common.files import write_text_atomic
from solutions.tuning import TUNERS

import keras  # noqa: E402  (keras_tuner imported it)

TRIAL_TUNERS = "trial_tuners"
STATS_PREFIX = "trial-stats-"


class _RecordsTuners:
    """Oracle mixin: trial id -> id of the tuner that asked for it, saved with the oracle."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trial_tuners: dict[str, str] = {}
        self.defaults: dict[str, Any] | None = None  # the first trial's values (SpaceHyperModel.default_values)

    def _random_values(self):
        """A new search's first trial trains the defaults; the others are drawn as KerasTuner draws them
        (Bayesian optimisation's first points and each Hyperband bracket's trials come from here)."""
        if self.defaults is not None and not self.trials:
            return dict(self.defaults)
        return super()._random_values()

    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self.trial_tuners[trial.trial_id] = tuner_id
        return trial

    def get_state(self):
        return {**super().get_state(), TRIAL_TUNERS: self.trial_tuners}

    # KerasTuner writes oracle.json and trial.json in place: a kill or a full disk mid-write left
    # a truncated file that made the search impossible to resume. Written atomically here.
    def save(self):
        write_text_atomic(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        write_text_atomic(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                          json.dumps(trial.get_state()))

    def reload(self):
        """The saved search; a damaged state file is one clear error, and a trial folder the oracle
        never started (planted, or left by a kill before the oracle's own save) is not a result."""
        try:
            super().reload()
        except (ValueError, UnicodeDecodeError, KeyError, RuntimeError) as exc:  # JSONDecodeError: a ValueError
            raise UserError(f"the search state under {self._project_dir} is damaged ({exc.__class__.__name__}: "
                            f"{str(exc)[:120]}); restore oracle.json and trial_*/trial.json from a copy, or "
                            "start a new search with another --output") from None
        started = set(self.start_order)
        stray = sorted(trial_id for trial_id in self.trials if trial_id not in started)
        for trial_id in stray:
            del self.trials[trial_id]
        if stray:
            print(f"warning: ignored trial folder(s) {', '.join(stray)} under {self._project_dir}: the search "
                  "never started them", file=sys.stderr)

    def set_state(self, state):
        super().set_state(state)
        self.trial_tuners = dict(state.get(TRIAL_TUNERS, {}))


class RandomOracle(_RecordsTuners, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOracle(_RecordsTuners, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(_RecordsTuners, keras_tuner.oracles.HyperbandOracle):
    pass


class Tuner(keras_tuner.Tuner):
    """Random search, Bayesian optimisation and Hyperband (the oracle decides), every trial run in
    its own process (solutions.tuning.trial_process); after each, its time and memory go to
    `trial-stats-<tuner>.json`: the trial's peak and this tuner process's resident memory."""

    def save(self):
        """As KerasTuner's, the tuner's own `<tuner id>.json` written atomically (it wrote in place)."""
        if not self._is_worker():
            self.oracle.save()
        write_text_atomic(self._get_tuner_fname(), json.dumps(self.get_state()))

    def run_trial(self, trial, *args, **kwargs):
        from solutions.tuning.trial_process import resident_mb, run_trial_process

        hp = trial.hyperparameters
        promoted = hp.values.get("tuner/trial_id")  # Hyperband: continue that trial's best weights
        spec = {"domain": self.hypermodel.solution.name, "options": self.hypermodel.base,
                "hyperparameters": hp.get_config(),
                "epochs": hp.values.get("tuner/epochs", kwargs.get("epochs")),
                "initial_epoch": hp.values.get("tuner/initial_epoch", 0),
                "initial_weights": self._get_checkpoint_fname(promoted) if promoted else None,
                "checkpoint": self._get_checkpoint_fname(trial.trial_id),
                "objective": (self.oracle.objective.name, self.oracle.objective.direction)}
        directory = Path(self.get_trial_dir(trial.trial_id))
        directory.mkdir(parents=True, exist_ok=True)
        result = run_trial_process(spec, directory)
        stats = Path(self.project_dir) / f"{STATS_PREFIX}{self.tuner_id}.json"
        seen = json.loads(stats.read_text()) if stats.exists() else {}
        seen[trial.trial_id] = {"seconds": result["seconds"], "trial_peak_mb": result["peak_rss_mb"],
                                "tuner_rss_mb": resident_mb(), "ran": result.get("ran", {})}
        write_text_atomic(stats, json.dumps(seen, indent=1))
        history = keras.callbacks.History()
        history.history, history.epoch = result["history"], result["epoch"]
        return history


def make_tuner(kind: str, hypermodel: keras_tuner.HyperModel, *, objective: keras_tuner.Objective, max_trials: int,
               max_epochs: int, seed: int, directory: Path, project_name: str, overwrite: bool) -> keras_tuner.Tuner:
    """`overwrite=False` reloads a search's saved state (KerasTuner's resume)."""
    common: dict[str, Any] = {"objective": objective, "seed": seed, "max_consecutive_failed_trials": 3}
    if kind == "random":
        oracle = RandomOracle(max_trials=max_trials, **common)
    elif kind == "bayesian":
        oracle = BayesianOracle(max_trials=max_trials, num_initial_points=min(4, max_trials), **common)  # defaults + 3
    elif kind == "hyperband":
        oracle = HyperbandOracle(max_epochs=max_epochs, factor=3, **common)
        oracle.max_trials = max_trials  # the generic cap the base oracle checks on every new trial
    else:
        raise ValueError(f"unknown tuner {kind!r}; choose from {', '.join(TUNERS)}")
    if hasattr(hypermodel, "default_values"):
        oracle.defaults = hypermodel.default_values()
    try:
        return Tuner(oracle=oracle, hypermodel=hypermodel, directory=str(directory), project_name=project_name,
                     overwrite=overwrite)
    except (ValueError, UnicodeDecodeError) as exc:  # a damaged <tuner id>.json (JSONDecodeError)
        raise UserError(f"the search state under {Path(directory) / project_name} is damaged "
                        f"({exc.__class__.__name__}: {str(exc)[:120]}); start a new search with another "
                        "--output") from None
