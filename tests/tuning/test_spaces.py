"""Every search space sets only options `solutions train` has, with values its parser accepts."""

from __future__ import annotations

import keras_tuner
import pytest

from solutions.cli import build_parser
from solutions.common.solution import all_solutions
from solutions.tuning.spaces import space_for

CASES = [(s.name, {}) for s in all_solutions()] + [
    ("recommendation", {"task": "retrieval", "units": 64}), ("recommendation", {"task": "retrieval", "model": "two_tower"}),
    ("recommendation", {"model": "mf"}),
    ("recommendation", {"model": "neural"}), ("sentiment", {"model": "cnn"})]


@pytest.mark.parametrize("domain,base", CASES)
def test_space_values_are_train_options_that_round_trip_through_the_cli(domain, base):
    hp = keras_tuner.HyperParameters()
    values = space_for(domain)(hp, base)
    assert values and set(values) == set(hp.values)  # one hyperparameter per option, named after it
    argv = ["train", domain]
    for key, value in {**base, **values}.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    parsed = vars(build_parser().parse_args(argv))
    for key, value in values.items():
        assert parsed[key] == pytest.approx(value) if isinstance(value, float) else parsed[key] == value, key


def test_the_space_follows_the_model_chosen_on_the_command_line():
    autorec = space_for("recommendation")(keras_tuner.HyperParameters(), {})
    staged = space_for("recommendation")(keras_tuner.HyperParameters(), {"task": "retrieval", "units": 64})
    tower = space_for("recommendation")(keras_tuner.HyperParameters(), {"task": "retrieval", "model": "two_tower"})
    assert "hidden" in autorec and "batch_size" not in autorec  # AutoRec trains full-batch
    assert "units" in staged and "temperature" not in staged  # the retrieval default: two_stage's reranker
    assert "temperature" in tower and "hidden" not in tower


def test_unknown_domain_names_the_known_ones():
    from solutions.common.errors import UserError

    with pytest.raises(UserError, match="recommendation"):
        space_for("weather")


def test_the_printed_best_command_trains_the_best_configuration():
    """It printed no --model (so `train` would build the default model), no --epochs, and rates cut
    to 4 digits. Parsed back, it must give the search's options with the best values."""
    import shlex

    from solutions import flags as opts
    from solutions.common.solution import get_solution
    options = {"data": "/data/my reviews.csv", "model": "cnn", "epochs": 3, "seed": 42, "output": "/tmp/x",
               "quantize": "none", "batch_size": 32}
    values = {"learning_rate": 0.009269123456789, "dropout": 0.0, "width": 64}
    command = opts.train_command("sentiment", values, options)
    argv = shlex.split(command)
    assert argv[:3] == ["solutions", "train", "sentiment"] and argv[3] == "--data=/data/my reviews.csv"
    parsed = opts.parse(opts.domain_parser(get_solution("sentiment"), "train"), argv[3:])
    for key, value in {**options, **values}.items():
        if key != "output":
            assert parsed[key] == value, (key, command)
    assert "--output" not in command

