"""Search spaces come from the domains: `Solution.search_space(hp, options)` maps a KerasTuner `hp`
to the options `solutions train` takes. A space may read the search's base options (e.g. the
recommendation task or model chosen on the command line) to decide what is worth searching."""

from __future__ import annotations

from typing import Any, Callable

import keras_tuner

from solutions.common.solution import Solution, get_solution

Space = Callable[[keras_tuner.HyperParameters, dict[str, Any]], dict[str, Any]]


def space_for(domain: str) -> Space:
    """The search space the domain declares (an unknown domain names the known ones)."""
    return get_solution(domain).search_space


def searched_names(solution: Solution, options: dict[str, Any]) -> set[str]:
    """The options the domain's space searches for these base options (what a value given on the
    command line holds fixed instead: `--width 8` was once varied like any other)."""
    hp = keras_tuner.HyperParameters()
    space_for(solution.name)(hp, options)
    return set(hp.values)
