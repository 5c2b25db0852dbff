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
