"""What every domain's search space shares: the optimiser's two hyperparameters.

A domain declares its own space (`Solution.search_space`): a KerasTuner `hp` -> the options
`solutions train` takes, each hyperparameter named after the option it sets, so a trial's values are
a `solutions train` command line and `build_model` never sees `hp`.
"""

from __future__ import annotations

from typing import Any


def optimisation(hp: Any, *, lr: tuple[float, float], batches: list[int]) -> dict[str, Any]:
    """The peak learning rate (log scale) and the batch size."""
    return {"learning_rate": hp.Float("learning_rate", lr[0], lr[1], sampling="log"),
            "batch_size": hp.Choice("batch_size", batches)}
