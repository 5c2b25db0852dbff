"""The Solution base: verdict sentences on baselines, registry errors."""

from __future__ import annotations

import pytest

from solutions.common.errors import UserError
from solutions.common.solution import Solution, get_solution


class _Accuracy(Solution):
    headline_metric = "accuracy"


class _Qlike(Solution):
    headline_metric = "qlike"


def test_verdict_names_baselines_beaten_and_not_beaten():
    metrics = {"test": {"accuracy": 0.80},
               "baselines": {"majority": {"accuracy": 0.50}, "tfidf": {"accuracy": 0.85}, "other": {"auc": 0.9}}}
    lines = _Accuracy().verdict(metrics, {})
    assert lines == ["The model's test accuracy 0.8000 beats majority (0.5000).",
                     "It does not beat tfidf (0.8500) on test accuracy."]


def test_verdict_respects_lower_is_better_and_skips_nan():
    metrics = {"test": {"qlike": 0.30}, "baselines": {"garch11": {"qlike": 0.40}, "broken": {"qlike": float("nan")}}}
    assert _Qlike().verdict(metrics, {}) == ["The model's test qlike 0.3000 beats garch11 (0.4000)."]
    assert _Qlike().verdict({"test": {"qlike": float("nan")}, "baselines": {}}, {}) == []


def test_unknown_domain_lists_the_known_ones():
    with pytest.raises(UserError, match="timeseries-finance"):
        get_solution("stocks")
