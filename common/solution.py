"""The contract every domain implements, and the registry the CLI and the API look domains up in.

A domain subclasses `Solution` and overrides only what is its own; the shared train/evaluate/
export flow in `solutions.common.workflow` drives it. Every sub-package of `solutions` registers
itself (`register`); lookup fails loudly with the names that do exist.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from solutions.common.errors import UserError
from solutions.common.hooks import EvaluationHooks, ExportHooks, ReportHooks, SourceHooks, TrainingHooks

if TYPE_CHECKING:
    import keras
    import numpy as np

    import tensorflow as tf

    from solutions.common.data import Splits
    from solutions.common.rundir import Run


@dataclass(frozen=True)
class DatasetInfo:
    """A named dataset a domain knows, as `solutions list` shows it."""

    name: str
    description: str


class Solution(SourceHooks, TrainingHooks, EvaluationHooks, ExportHooks, ReportHooks):
    """What a domain is: its names, and the 14 methods below that it implements (its options, data
    source, model builder, evaluation with baselines, the files beside the model, plots and
    predictions). The optional hooks, each with a default, are in common/hooks.py; most domains
    also declare a search space and their report's words there. A domain assembles these from its
    own small modules; its `__init__.py` only registers it."""

    name: ClassVar[str]
    summary: ClassVar[str]
    default_dataset: ClassVar[str]
    datasets: ClassVar[tuple[DatasetInfo, ...]]
    models: ClassVar[tuple[str, ...]]
    default_model: ClassVar[str]
    # Overrides of the CLI's training defaults (epochs, batch_size, learning_rate, patience, ...).
    train_defaults: ClassVar[dict[str, Any]] = {}

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the domain's own `train` options."""

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the domain's own `predict` options."""

    def check_data_source(self, options: dict[str, Any]) -> None:
        """Fail fast (before TensorFlow loads) on a source that cannot work."""

    def load_splits(self, options: dict[str, Any]) -> "Splits":
        """The train/validation/test splits the plan names (fitted statistics in `Splits.fitted`,
        values resolved from the data in `Splits.resolved`)."""
        raise NotImplementedError

    def build_model(self, options: dict[str, Any], splits: "Splits") -> "keras.Model":
        """The Keras model for the plan, built with `keras.layers` only (never sees `hp`)."""
        raise NotImplementedError

    def compile(self, model: "keras.Model", optimizer: "keras.optimizers.Optimizer") -> None:
        """Compile with the given optimizer and the domain's loss and metrics."""
        raise NotImplementedError

    def training_datasets(self, splits: "Splits", options: dict[str, Any]) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
        """(train, validation) pipelines; augmentation belongs in the training one only."""
        raise NotImplementedError

    def finalize_model(self, model: "keras.Model", splits: "Splits", options: Mapping[str, Any]
                       ) -> tuple["keras.Model", dict[str, Any]]:
        """After training, before saving: the model to ship and what was fitted for it on the
        validation split (a temperature, a threshold, an interval), which the metric hooks get in
        memory as `fitted` and `write_artifacts` saves for reloading."""
        return model, {}

    def test_metrics(self, y_true: "np.ndarray", y_score: "np.ndarray", fitted: dict[str, Any]) -> dict[str, float]:
        """The test metrics of model outputs `y_score` against `y_true` (`fitted`: what
        `finalize_model` returned, e.g. the decision threshold)."""
        raise NotImplementedError

    def baselines(self, splits: "Splits") -> dict[str, dict[str, float]]:
        """Honest reference scores on the same test split: name -> metrics."""
        return {}

    def write_artifacts(self, run: "Run", splits: "Splits", model: "keras.Model", fitted: dict[str, Any]) -> None:
        """Write what inference needs beside the model (labels, vocabulary, id maps, `fitted`)."""

    def plots(self, run: "Run", splits: "Splits", y_score: "np.ndarray", model: "keras.Model",
              fitted: dict[str, Any]) -> list[str]:
        """Write the domain's PNG plots into the run; return their file names."""
        return []

    def predict(self, run: "Run", inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """Answers for new inputs (one dict each) from the run's Keras model or a TFLite variant,
        through `common.prediction.run_outputs`; `options` are the domain's predict flags."""
        raise NotImplementedError

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        """The lines `solutions predict` prints for the answers."""
        return [str(a) for a in answers]


_REGISTRY: dict[str, Solution] = {}
# Sub-packages of `solutions` that are not domains (the shared layers installed inside it).
NOT_DOMAINS = frozenset({"common", "tuning"})


def domain_modules() -> list[str]:
    """Every domain package: each sub-package of `solutions` registers one domain on import, so a
    new domain is one new package and no edit anywhere else."""
    import pkgutil

    package = sys.modules["solutions"]  # the parent package, loaded before this module
    return sorted(f"solutions.{m.name}" for m in pkgutil.iter_modules(package.__path__)
                  if m.ispkg and m.name not in NOT_DOMAINS and not m.name.startswith("_"))


def register(solution_cls: type[Solution]) -> type[Solution]:
    """Class decorator: make a domain reachable by its CLI name."""
    _REGISTRY[solution_cls.name] = solution_cls()
    return solution_cls


def _load_all() -> None:
    for module in domain_modules():
        importlib.import_module(module)


def all_solutions() -> list[Solution]:
    _load_all()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_solution(name: str) -> Solution:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UserError(f"unknown domain {name!r}; known domains: {known}") from None
