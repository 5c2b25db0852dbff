"""Options asked again beside --resume: compared as config.json keeps them, named as flags."""

import pytest

from solutions.common.errors import UserError
from solutions.common.plan import refuse_changed


def _refused(saved, asked, resolved=None) -> str:
    with pytest.raises(UserError) as error:
        refuse_changed("--resume continues RUN with the options it started with", saved, asked, advice="ADVICE",
                       resolved=resolved)
    return str(error.value)


def test_the_same_values_as_config_json_keeps_them_pass():
    saved = {"epochs": 40, "learning_rate": 0.003, "scale": [1, 5], "flip": True, "model": "mf"}
    refuse_changed("lead", saved, {"epochs": 40.0, "learning_rate": 3e-3, "scale": (1, 5), "flip": True}, advice="")


def test_a_different_value_is_named_as_its_flag_with_the_runs_own():
    message = _refused({"epochs": 40, "flip": True, "retrain": True}, {"epochs": 60, "flip": False, "retrain": False})
    assert message.startswith("--resume continues RUN with the options it started with, and these differ: ")
    assert "--epochs 60 (it has 40)" in message and "--flip off (it has on)" in message
    assert "--no-retrain on (it has off)" in message and message.endswith("; ADVICE")


def test_an_option_the_data_chose_compares_as_what_it_chose():
    saved, plan = {"epochs": None, "batch_size": None}, {"epochs": 30, "batch_size": 64}
    refuse_changed("lead", saved, {"epochs": 30}, advice="", resolved=plan)  # the value the data chose: the same run
    message = _refused(saved, {"epochs": 50, "batch_size": 64}, plan)
    assert "--epochs 50 (it has 30, chosen from the data)" in message and "--batch-size" not in message
    assert "none given: chosen from the data" in _refused({"epochs": None}, {"epochs": 50})
