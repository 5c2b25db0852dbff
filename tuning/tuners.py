"""The three KerasTuner searches behind `--tuner`, with two additions the stock ones lack:
the oracle remembers which tuner (worker) ran each trial, so the chief's trial table can say, and
every tuner process records its resident memory after each trial (`memory-<tuner>.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras_tuner
from keras_tuner.src.engine import trial as trial_module

from tuning import TUNERS

TRIAL_TUNERS = "trial_tuners"


class _RecordsTuners:
    """Oracle mixin: trial id -> id of the tuner that asked for it, saved with the oracle."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trial_tuners: dict[str, str] = {}

    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self.trial_tuners[trial.trial_id] = tuner_id
        return trial

    def get_state(self):
        return {**super().get_state(), TRIAL_TUNERS: self.trial_tuners}

    def set_state(self, state):
        super().set_state(state)
        self.trial_tuners = dict(state.get(TRIAL_TUNERS, {}))


class RandomOracle(_RecordsTuners, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOracle(_RecordsTuners, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(_RecordsTuners, keras_tuner.oracles.HyperbandOracle):
    pass


def resident_mb() -> float:
    """This process's resident memory (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def release_memory() -> None:
    """Drop the finished trial's Keras state and graphs, and hand freed heap back to the system
    (glibc keeps it otherwise, and the process's resident memory only grows)."""
    import ctypes
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class _MeasuresMemory:
    """Tuner mixin: memory released after each trial, then the resident memory recorded, one JSON
    file per tuner process."""

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        release_memory()
        path = Path(self.project_dir) / f"memory-{self.tuner_id}.json"
        seen = json.loads(path.read_text()) if path.exists() else {}
        seen[trial.trial_id] = round(resident_mb(), 1)
        path.write_text(json.dumps(seen, indent=1))


class Tuner(_MeasuresMemory, keras_tuner.Tuner):
    """Random search and Bayesian optimisation: the oracle decides, the generic tuner runs."""


class HyperbandTuner(_MeasuresMemory, keras_tuner.Hyperband):
    """Hyperband's tuner (it passes each bracket's epochs and reloads the promoted trial's
    weights) around a given oracle."""

    def __init__(self, oracle, hypermodel, **kwargs):
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def make_tuner(kind: str, hypermodel: keras_tuner.HyperModel, *, objective: keras_tuner.Objective, max_trials: int,
               max_epochs: int, seed: int, directory: Path, project_name: str, overwrite: bool) -> keras_tuner.Tuner:
    """`overwrite=False` reloads a search's saved state (KerasTuner's resume)."""
    common: dict[str, Any] = {"objective": objective, "seed": seed, "max_consecutive_failed_trials": 3}
    if kind == "random":
        oracle = RandomOracle(max_trials=max_trials, **common)
    elif kind == "bayesian":
        oracle = BayesianOracle(max_trials=max_trials, num_initial_points=min(3, max_trials), **common)
    elif kind == "hyperband":
        oracle = HyperbandOracle(max_epochs=max_epochs, factor=3, **common)
        oracle.max_trials = max_trials  # the generic cap the base oracle checks on every new trial
    else:
        raise ValueError(f"unknown tuner {kind!r}; choose from {', '.join(TUNERS)}")
    cls = HyperbandTuner if kind == "hyperband" else Tuner
    return cls(oracle=oracle, hypermodel=hypermodel, directory=str(directory), project_name=project_name,
               overwrite=overwrite)
