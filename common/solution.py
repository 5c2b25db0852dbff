"""The Solution record every domain fills in, and the registry the CLI looks domains up in.

A domain subclasses `Solution` and overrides only what is its own; the shared train/evaluate/
export flow in `solutions.common.workflow` drives it. Registration is explicit (`register`) and lookup fails
loudly with the names that do exist.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from solutions.common.errors import UserError

if TYPE_CHECKING:
    import keras
    import numpy as np

    import tensorflow as tf

    from solutions.common.data import Split, Splits
    from solutions.common.rundir import Run
    from solutions.common.training import Phase


@dataclass(frozen=True)
class DatasetInfo:
    """A named dataset a domain knows, as `solutions list` shows it."""

    name: str
    description: str


class Solution:
    """Base class of the five solutions: what the shared workflow needs from a domain."""

    name: ClassVar[str]
    summary: ClassVar[str]
    default_dataset: ClassVar[str]
    datasets: ClassVar[tuple[DatasetInfo, ...]]
    models: ClassVar[tuple[str, ...]]
    default_model: ClassVar[str]
    # Metric that early stopping and tuning watch on the validation split, with its direction.
    monitor: ClassVar[str] = "val_loss"
    monitor_mode: ClassVar[str] = "min"
    # Headline test metric for summaries and the benchmark table.
    headline_metric: ClassVar[str]
    # Overrides of the CLI's training defaults (epochs, batch_size, learning_rate, patience, ...).
    train_defaults: ClassVar[dict[str, Any]] = {}

    # --- options -----------------------------------------------------------------------------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the domain's own `train` options."""

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the domain's own `predict` options."""

    def search_space(self, hp: Any, options: dict[str, Any]) -> dict[str, Any]:
        """KerasTuner `hp` -> the train options a trial sets (each hyperparameter named after its
        option); `options` are the search's base options. Default: learning rate and batch size."""
        from solutions.common.search_space import optimisation

        return optimisation(hp, lr=(3e-4, 1e-2), batches=[32, 64, 128])

    def resolve(self, options: "Mapping[str, Any]") -> dict[str, Any]:
        """Option values this domain works out from the options alone (a task's default model, a
        dataset's default split); returned, never written into `options`."""
        return {}

    # --- data and model ----------------------------------------------------------------------
    def check_data_source(self, options: dict[str, Any]) -> None:
        """Fail fast (before TensorFlow loads) on a source that cannot work."""

    def load_splits(self, options: dict[str, Any]) -> "Splits":
        raise NotImplementedError

    def build_model(self, options: dict[str, Any], splits: "Splits") -> "keras.Model":
        raise NotImplementedError

    def training_datasets(self, splits: "Splits", options: dict[str, Any]) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
        """(train, validation) pipelines; augmentation belongs in the training one only."""
        raise NotImplementedError

    def compile(self, model: "keras.Model", optimizer: "keras.optimizers.Optimizer") -> None:
        raise NotImplementedError

    def monitoring(self, options: dict[str, Any]) -> tuple[str, str]:
        """(validation metric, "min"|"max") that early stopping and tuning watch for these options
        (a domain with several tasks has one per task)."""
        return self.monitor, self.monitor_mode

    def headline(self, options: dict[str, Any]) -> str:
        """The headline test metric of a run with these options (a domain with several targets
        has one per target)."""
        return self.headline_metric

    def folds(self, options: dict[str, Any]) -> int | None:
        """How many resampled folds to train and score besides the run itself (`--cv K`)."""
        return options.get("cv")

    def resampling(self, options: dict[str, Any]) -> dict[str, str]:
        """What the folds are, for metrics.json and the report."""
        return {"scheme": "cross-validation", "note": "fold 1 is the exported model; every fold's test part is used once"}

    def phases(self, model: "keras.Model", options: dict[str, Any]) -> list["Phase"]:
        """One phase by default; transfer learning adds a frozen-backbone phase first."""
        from solutions.common.training import Phase

        return [Phase("main", options["epochs"], options["learning_rate"])]

    def steps_per_epoch(self, splits: "Splits", options: dict[str, Any]) -> int:
        """Optimizer steps in one epoch (the learning-rate schedule is laid out over them)."""
        return math.ceil(len(splits.train) / options["batch_size"])

    def fit_options(self, splits: "Splits", options: dict[str, Any]) -> dict[str, Any]:
        """Extra `model.fit` arguments (e.g. class weights from the training split)."""
        return {}

    def epoch_callbacks(self, splits: "Splits", options: dict[str, Any]) -> list:
        """Callbacks that add validation metrics to the epoch logs (they run before early stopping)."""
        return []

    def finalize_model(self, model: "keras.Model", splits: "Splits", options: Mapping[str, Any]
                       ) -> tuple["keras.Model", dict[str, Any]]:
        """After training, before saving: the model to ship and what was fitted for it on the
        validation split (a temperature, a threshold, an interval), which the metric hooks get in
        memory as `fitted` and `write_artifacts` saves for reloading."""
        return model, {}

    def load_fitted(self, run: "Run") -> dict[str, Any]:
        """A finished run's `fitted`, read back from the files `write_artifacts` saved."""
        return {}

    def model_inputs(self, split: "Split") -> "np.ndarray":
        """What the Keras and TFLite models take for a split (raw inputs, as float32 by default)."""
        import numpy as np

        return split.x.astype(np.float32)

    def serving_inputs(self, split: "Split") -> "np.ndarray":
        """What the SavedModel takes (the same as the Keras model, unless it carries preprocessing)."""
        return self.model_inputs(split)

    def export_saved_model(self, model: "keras.Model", path: Path, splits: "Splits") -> Path:
        """Write the serving SavedModel (a domain may wrap the model, e.g. with its vocabulary)."""
        from solutions.common.export import export_saved_model

        return export_saved_model(model, path)

    def tflite_source(self, model: "keras.Model", saved_model_dir: Path, workdir: Path) -> Path:
        """The SavedModel the TFLite files are converted from: the serving one, or, for a model with
        recurrent layers, one with batch 1 written into the temporary `workdir` (see
        `solutions.common.export.tflite_batch`). A domain may write another (other inputs)."""
        from solutions.common.export import export_fixed_batch, tflite_batch

        if tflite_batch(model) is None:
            return saved_model_dir
        return export_fixed_batch(model, workdir / "tflite_source", batch=tflite_batch(model))

    # Module whose import registers the domain's custom layers (needed to reload model.keras).
    layers_module: ClassVar[str | None] = None

    def load_model(self, run: "Run") -> "keras.Model":
        from solutions.common.runtime import import_tensorflow

        import_tensorflow()  # quietly, before Keras pulls it in
        import keras

        if self.layers_module:
            importlib.import_module(self.layers_module)
        try:
            return keras.models.load_model(run / "model.keras", compile=False)
        except Exception as exc:  # a truncated zip, a damaged config: Keras says "File not found"
            raise UserError(f"{run / 'model.keras'} cannot be loaded: it is damaged or not a Keras model "
                            f"({exc.__class__.__name__}); retrain, or restore it from a copy") from None

    def run_checks(self, run: "Run", splits: "Splits", model: "keras.Model", options: Mapping[str, Any]) -> dict[str, Any]:
        """Extra consistency checks recorded in metrics.json under `checks` (e.g. tokenizer parity)."""
        return {}

    def representative_samples(self, splits: "Splits") -> "np.ndarray":
        """Single samples from the training data that calibrate int8 quantization."""
        raise NotImplementedError

    def agreement(self, reference: "np.ndarray", other: "np.ndarray", fitted: dict[str, Any]) -> float:
        """How often an exported model gives the same answer as Keras."""
        from solutions.common.metrics import argmax_agreement

        return argmax_agreement(reference, other)

    def pinned_options(self, run: "Run") -> dict[str, Any]:
        """Options a trained model fixes (input shape, vocabulary) that other data must be read with."""
        return {}

    def check_compatible(self, run: "Run", splits: "Splits") -> None:
        """Refuse to score a run on data whose labels mean something else."""

    # --- evaluation, outputs -----------------------------------------------------------------
    def test_metrics(self, y_true: "np.ndarray", y_score: "np.ndarray", fitted: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    def baselines(self, splits: "Splits") -> dict[str, dict[str, float]]:
        return {}

    def test_extras(self, splits: "Splits", y_score: "np.ndarray", fitted: dict[str, Any]) -> dict[str, Any]:
        """Test-split figures beyond per-sample metrics (a trading backtest), added to metrics.json."""
        return {}

    def verdict(self, metrics: dict[str, Any], options: dict[str, Any]) -> list[str]:
        """Plain sentences on whether the model beat its baselines, for the report and summary."""
        head = self.headline(options)
        value = metrics["test"].get(head)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return []
        better, worse = [], []
        for name, scores in metrics.get("baselines", {}).items():
            if not isinstance(scores.get(head), (int, float)) or not math.isfinite(scores[head]):
                continue
            wins = value < scores[head] if self.lower_is_better(head) else value > scores[head]
            (better if wins else worse).append(f"{name} ({scores[head]:.4f})")
        lines = []
        if better:
            lines.append(f"The model's test {head} {value:.4f} beats " + ", ".join(better) + ".")
        if worse:
            lines.append("It does not beat " + ", ".join(worse) + f" on test {head}.")
        return lines

    def lower_is_better(self, metric: str) -> bool:
        return metric in ("loss", "rmse", "mae", "mse", "qlike", "ece", "pinball")

    def write_artifacts(self, run: "Run", splits: "Splits", model: "keras.Model", fitted: dict[str, Any]) -> None:
        """Write what inference needs beside the model (labels, vocabulary, id maps, `fitted`)."""

    def plots(self, run: "Run", splits: "Splits", y_score: "np.ndarray", model: "keras.Model",
              fitted: dict[str, Any]) -> list[str]:
        """Write the domain's PNG plots into the run; return their file names."""
        return []

    def report_title(self, splits: "Splits") -> str:
        return f"{self.name} on {splits.source.get('name')}"

    def report_notes(self, splits: "Splits") -> list[str]:
        return []

    def usage(self, run_path: "Path") -> str:
        """Markdown that shows how to use the exported files of a run at `run_path`."""
        return f"`solutions predict {run_path} ...`"

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
