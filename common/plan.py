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


def _same(a: Any, b: Any) -> bool:
    """Equal as config.json keeps them: 40 and 40.0 alike, a tuple and its list alike."""
    import json

    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _flag(key: str) -> str:
    """The flag that sets `key` (the tuner's `retrain` is set by `--no-retrain`, so shown inverted)."""
    return "--no-retrain" if key == "retrain" else f"--{key.replace('_', '-')}"


def _text(key: str, value: Any) -> str:
    """A value as it reads beside its flag: `60`, or `on`/`off` for a switch."""
    if isinstance(value, bool):
        return "on" if value != (key == "retrain") else "off"
    return "none given: chosen from the data" if value is None else str(value)


def refuse_changed(lead: str, saved: Mapping[str, Any], asked: Mapping[str, Any], *, advice: str,
                   resolved: Mapping[str, Any] | None = None) -> None:
    """Options asked again that differ from those a run or search started with (`lead` says which
    and why they must match; `advice` what to do): `--epochs 60 --resume` was once ignored without a
    word, and the run ended at its old 40 epochs. A saved None the data resolved (`resolved`, the
    run's plan) compares as what it resolved to."""
    from solutions.common.errors import UserError

    differ = []
    for key, value in asked.items():
        was = saved.get(key)
        chosen = (resolved or {}).get(key) if was is None else None
        if not _same(value, was if chosen is None else chosen):
            has = _text(key, was) if chosen is None else f"{chosen}, chosen from the data"
            differ.append(f"{_flag(key)} {_text(key, value)} (it has {has})")
    if differ:
        raise UserError(f"{lead}, and these differ: {', '.join(differ)}; {advice}")
