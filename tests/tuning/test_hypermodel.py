"""A trial trains through the same pipelines as `solutions train`."""

from __future__ import annotations

from pathlib import Path

import keras
import keras_tuner
import pytest

from solutions.api import train_options
from solutions.common.solution import get_solution
from solutions.tuning.hypermodel import SolutionHyperModel
from solutions.tuning.spaces import space_for
from tests.solutions.recommendation.contract import case


class _Fitted(Exception):
    pass


def test_a_trial_trains_on_pipelines_without_the_autotuner(tmp_path, monkeypatch):
    """AutoRec builds its pipelines by hand; the autotuner's thread stalled each epoch's start
    (common/pipeline.py)."""
    seen = []

    def fit(self, x=None, *args, validation_data=None, **kwargs):
        seen.append([ds.options().autotune.enabled for ds in (x, validation_data)])
        raise _Fitted

    options = train_options("recommendation", **{**case(tmp_path)["options"], "model": "autorec"})
    hypermodel = SolutionHyperModel(get_solution("recommendation"), options, space_for("recommendation"))
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    monkeypatch.setattr(keras.Model, "fit", fit)
    with pytest.raises(_Fitted):
        hypermodel.fit(hp, model, epochs=1)
    assert seen == [[False, False]]


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_a_searched_option_the_user_gave_is_held_at_its_value(tmp_path, kind):
    """`tune --width 8` once searched width like any other hyperparameter."""
    from solutions.tuning.hypermodel import SpaceHyperModel
    from solutions.tuning.spaces import searched_names
    from solutions.tuning.tuners import make_tuner

    options = train_options("recommendation", **{**case(tmp_path)["options"], "dim": 24})
    solution = get_solution("recommendation")
    assert {"dim", "l2", "learning_rate"} <= searched_names(solution, options)
    hypermodel = SpaceHyperModel(solution, options, space_for("recommendation"), fixed=["dim"])
    tuner = make_tuner(kind, hypermodel, objective=keras_tuner.Objective("val_rmse", "min"), max_trials=6,
                       max_epochs=3, seed=0, directory=tmp_path, project_name="search", overwrite=True)
    seen = []
    for score in range(6):
        trial = tuner.oracle.create_trial("t")
        if trial.status != "RUNNING":
            break
        seen.append(trial.hyperparameters.values)
        tuner.oracle.update_trial(trial.trial_id, {"val_rmse": 1.0 + score}, step=0)
        trial.status = "COMPLETED"
        tuner.oracle.end_trial(trial)
    assert len(seen) >= 3 and {v["dim"] for v in seen} == {24}  # 24 is not even among the space's choices
    assert len({v["l2"] for v in seen}) >= 3  # the others still searched (hyperband repeats a promoted one)
    free = SpaceHyperModel(solution, options, space_for("recommendation"))  # not fixed: searched
    tuner = make_tuner("random", free, objective=keras_tuner.Objective("val_rmse", "min"), max_trials=6,
                       max_epochs=3, seed=0, directory=tmp_path, project_name="free", overwrite=True)
    dims = set()
    for _ in range(6):
        trial = tuner.oracle.create_trial("t")
        dims.add(trial.hyperparameters.values["dim"])
        tuner.oracle.update_trial(trial.trial_id, {"val_rmse": 1.0}, step=0)
        trial.status = "COMPLETED"
        tuner.oracle.end_trial(trial)
    assert len(dims) > 1 and 24 not in dims


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_a_new_search_s_first_trial_trains_the_defaults(tmp_path, kind):
    """A search never said whether it beat `solutions train`'s defaults: its first trial now trains
    them (the options as given), its values where KerasTuner can place them, and a resumed search
    with trials does not add a second one."""
    from solutions.tuning.hypermodel import DEFAULTS, SpaceHyperModel
    from solutions.tuning.tuners import make_tuner

    options = train_options("recommendation", **{**case(tmp_path)["options"], "dim": 24, "learning_rate": 0.002})
    assert options["l2"] is None  # mf's own default, chosen by the model
    hypermodel = SpaceHyperModel(get_solution("recommendation"), options, space_for("recommendation"), fixed=["dim"])
    tuner = make_tuner(kind, hypermodel, objective=keras_tuner.Objective("val_rmse", "min"), max_trials=4,
                       max_epochs=3, seed=0, directory=tmp_path, project_name="search", overwrite=True)
    trials = []
    for score in range(3):
        trial = tuner.oracle.create_trial("t")
        trials.append(trial)
        tuner.oracle.update_trial(trial.trial_id, {"val_rmse": 1.0 + score}, step=0)
        trial.status = "COMPLETED"
        tuner.oracle.end_trial(trial)
    first = trials[0].hyperparameters.values
    assert first[DEFAULTS] is True and first["dim"] == 24 and first["learning_rate"] == 0.002
    assert first["batch_size"] == options["batch_size"] and first["l2"] == 1e-5  # the space's default stands in
    assert not any(t.hyperparameters.values.get(DEFAULTS) for t in trials[1:])
    trained = hypermodel.trial_options(keras_tuner.HyperParameters.from_config(trials[0].hyperparameters.get_config()))
    assert trained == options  # the defaults, l2 unset as `solutions train` leaves it
    drawn = hypermodel.trial_options(keras_tuner.HyperParameters.from_config(trials[1].hyperparameters.get_config()))
    assert drawn["l2"] == trials[1].hyperparameters.values["l2"]
    tuner.save()  # as after each trial: what a resumed search reloads
    resumed = make_tuner(kind, hypermodel, objective=keras_tuner.Objective("val_rmse", "min"), max_trials=4,
                         max_epochs=3, seed=0, directory=tmp_path, project_name="search", overwrite=False)
    trial = resumed.oracle.create_trial("t")
    values = trial.hyperparameters.values
    promoted = values.get("tuner/trial_id") == trials[0].trial_id  # Hyperband continues the defaults as such
    assert trial.status == "STOPPED" or not values.get(DEFAULTS) or promoted


def test_the_summary_says_whether_the_search_beat_the_defaults(capsys):
    from types import SimpleNamespace

    from solutions.tuning.search import print_summary, summarise

    def row(trial, objective, defaults=None, lr=0.01):
        return {"trial": trial, "status": "COMPLETED", "objective": objective, "best_epoch": 2, "tuner": "t",
                "defaults": defaults, "seconds": 1.0, "trial_peak_mb": 1.0, "tuner_rss_mb": 1.0, "learning_rate": lr}

    solution = SimpleNamespace(name="recommendation")
    rows = [row("0", 0.95, "yes", 0.002), row("1", 0.93), row("2", 0.97)]
    summary = summarise(rows, "val_rmse", "min", Path("s"), solution, {})
    assert summary["defaults"] == {"trial": "0", "objective": 0.95, "best_epoch": 2, "best_is_defaults": False,
                                   "gain": pytest.approx(0.02)}
    assert summary["best_values"] == {"learning_rate": 0.01}  # the marker is not a value
    print_summary(summary, "val_rmse", Path("s"))
    assert "the defaults (trial 0): val_rmse 0.9500; the best trial is 0.0200 better" in capsys.readouterr().out
    rows[0]["objective"] = 0.90
    summary = summarise(rows, "val_rmse", "min", Path("s"), solution, {})
    assert summary["best_trial"] == "0" and summary["defaults"]["best_is_defaults"]
    print_summary(summary, "val_rmse", Path("s"))
    assert "no trial beat the defaults (trial 0, val_rmse 0.9000)" in capsys.readouterr().out
    # Hyperband: the defaults continued in a later round; the best of their trials is the comparison
    rows = [{**row("0", 0.95, "yes", 0.002), "epochs": 2}, row("1", 0.93),
            {**row("2", 0.91, "yes", 0.002), "epochs": 6}]
    summary = summarise(rows, "val_rmse", "min", Path("s"), solution, {})
    assert summary["best_trial"] == "2" and summary["defaults"]["best_is_defaults"]
    assert summary["defaults"]["trial"] == "2" and summary["defaults"]["epochs"] == 6
    assert "epochs" not in summary["best_values"] and "defaults" not in summary["best_values"]
    print_summary(summary, "val_rmse", Path("s"))
    assert "no trial beat the defaults (trial 2, 6 epochs, val_rmse 0.9100)" in capsys.readouterr().out
    rows = [{**row("0", None, "yes"), "status": "FAILED"}, row("1", 0.93)]
    summary = summarise(rows, "val_rmse", "min", Path("s"), solution, {})
    print_summary(summary, "val_rmse", Path("s"))
    assert "the defaults (trial 0) did not finish" in capsys.readouterr().out
    summary = summarise([row("0", 0.95), row("1", 0.93)], "val_rmse", "min", Path("s"), solution, {})
    assert "defaults" not in summary  # a search begun before the defaults trial existed
