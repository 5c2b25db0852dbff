"""A run's plan: the options it was asked for plus what the domain resolved from them and from the
data, frozen. Every hook reads the plan and none can change it (a write raises TypeError); values a
hook works out travel back as return values (`Solution.resolve`, `Splits.resolved`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from solutions.common.data import Splits
    from solutions.common.solution import Solution

Plan = Mapping[str, Any]


def freeze(values: Mapping[str, Any]) -> Plan:
    """A read-only view of a private copy (the caller's dict stays the caller's)."""
    return MappingProxyType(dict(values))


def before_data(solution: "Solution", options: Mapping[str, Any]) -> Plan:
    """The options with what the domain resolves from them alone (e.g. a task's default model)."""
    asked = freeze(options)
    return freeze({**asked, **solution.resolve(asked)})


def with_data(plan: Plan, splits: "Splits") -> Plan:
    """The plan with what reading the data resolved (an image size, a sequence length)."""
    return freeze({**plan, **splits.resolved}) if splits.resolved else plan


def with_model(plan: Plan, model: Any) -> Plan:
    """The plan with what building the model resolved (`model.resolved_options`, e.g. the
    backbone weights actually loaded when ImageNet weights could not be fetched)."""
    resolved = getattr(model, "resolved_options", None)
    return freeze({**plan, **resolved}) if resolved else plan


def plain(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy."""
    return dict(plan)
