"""A trial trains through the same pipelines as `solutions train`."""

from __future__ import annotations

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
