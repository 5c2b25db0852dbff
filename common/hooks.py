"""The optional parts of the domain contract, each with a default, grouped by what they are about.

`Solution` (common/solution.py) lists the methods a domain implements; the hooks here are overridden
only where a domain differs from the default (a domain with a vocabulary inside its SavedModel, a
task with its own monitor, a run with a trading backtest).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from solutions.common.errors import UserError

if TYPE_CHECKING:
    import keras
    import numpy as np

    from solutions.common.data import Split, Splits
    from solutions.common.edge import EdgeModel
    from solutions.common.rundir import Run
    from solutions.common.serving_export import ServingModel
    from solutions.common.tflite_metadata import TensorInfo
    from solutions.common.training import Phase


class SourceHooks:
    """Where the data comes from, beyond loading it: resolved options, task choice, pinned inputs."""

    def for_plan(self, plan: Mapping[str, Any]) -> Any:
        """The object that runs this plan: the domain itself, or for a domain with several tasks
        the task's own object (chosen once, so no hook branches on the task)."""
        return self

    def resolve(self, options: "Mapping[str, Any]") -> dict[str, Any]:
        """Option values this domain works out from the options alone (a task's default model, a
        dataset's default split); returned, never written into `options`."""
        return {}

    # Options added after runs and searches were saved, with the value every earlier one had. A saved
    # options dict (config.json, search.json) without such a key is read with that value, so
    # --resume, a resumed search and --config replay rebuild the model those runs trained, not the
    # one this version would resolve from their data.
    legacy_defaults: ClassVar[Mapping[str, Any]] = {}

    def with_legacy_options(self, saved: Mapping[str, Any]) -> dict[str, Any]:
        """`saved` (a run's or search's options) with `legacy_defaults` for the keys it lacks."""
        return {**{k: v for k, v in self.legacy_defaults.items() if k not in saved}, **saved}

    def pinned_options(self, run: "Run") -> dict[str, Any]:
        """What a trained run fixes for reading data with it (evaluate, export): the values it
        resolved from its own data (an image size and channels, a sequence length) and
        `trained_run`, the run whose vocabulary or id maps the source reads instead of fitting
        new ones. Runs from before the plan kept those values among their options."""
        from solutions.common.plan import freeze

        config = run.config
        asked = config["options"]
        resolved = {k: v for k, v in config.get("plan", {}).items() if k not in asked or asked[k] != v}
        for key in self.resolve(freeze(asked)):  # worked out from the options alone: resolved again
            resolved.pop(key, None)
        return {**resolved, "trained_run": str(run.path)}

    def check_compatible(self, run: "Run", splits: "Splits") -> None:
        """Refuse to score a run on data whose labels mean something else."""


class TrainingHooks:
    """How the model is trained, beyond building and compiling it."""

    # Metric that early stopping and tuning watch on the validation split, with its direction.
    monitor: ClassVar[str] = "val_loss"
    monitor_mode: ClassVar[str] = "min"
    # Headline test metric for summaries and the benchmark table.
    headline_metric: ClassVar[str]
    # Module whose import registers the domain's custom layers (needed to reload model.keras).
    layers_module: ClassVar[str | None] = None

    def search_space(self, hp: Any, options: dict[str, Any]) -> dict[str, Any]:
        """KerasTuner `hp` -> the train options a trial sets (each hyperparameter named after its
        option); `options` are the search's base options. Default: learning rate and batch size."""
        from solutions.common.search_space import optimisation

        return optimisation(hp, lr=(3e-4, 1e-2), batches=[32, 64, 128])

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

    def load_model(self, run: "Run") -> "keras.Model":
        """The run's model.keras with the domain's custom layers registered."""
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


class EvaluationHooks:
    """How the model is judged, beyond its test metrics and baselines."""

    def agreement(self, reference: "np.ndarray", other: "np.ndarray", fitted: dict[str, Any]) -> float:
        """How often an exported model gives the same answer as Keras."""
        from solutions.common.metrics import argmax_agreement

        return argmax_agreement(reference, other)

    # Why `evaluate` scores only the test split of other data in this domain (None: it can score all).
    whole_data_refused: ClassVar[str | None] = None

    def all_examples(self, splits: "Splits") -> "Split | None":
        """Every example of other data as one split, for `evaluate --data` on files the run never
        trained on (it once scored that data's 15% test split only), or None to score its test
        split (parts that cannot be joined, or a domain's `whole_data_refused`)."""
        from solutions.common.data import joined

        return None if self.whole_data_refused else joined(splits)

    def seen_keys(self, splits: "Splits") -> "list[str] | None":
        """The keys (`common.data.example_keys`) of the training and validation examples, which a run
        keeps so `evaluate` on other data can leave them out; None where it scores only the test
        split of other data anyway (`whole_data_refused`)."""
        from solutions.common.data import example_keys

        if self.whole_data_refused:
            return None
        return sorted(set(example_keys(splits.train)) | set(example_keys(splits.val)))

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
        """Whether a smaller value of `metric` is better (errors, losses, calibration error)."""
        return metric in ("loss", "rmse", "mae", "mse", "qlike", "ece", "pinball")

    def run_checks(self, run: "Run", splits: "Splits", model: "keras.Model", options: Mapping[str, Any]) -> dict[str, Any]:
        """Extra consistency checks recorded in metrics.json under `checks` (e.g. tokenizer parity)."""
        return {}


class ExportHooks:
    """What the exported models take, and what a finished run reloads."""

    # The edge variants (`common.variants.EDGE_VARIANTS`) the domain's `edge_models` can ship.
    edge_variants: ClassVar[tuple[str, ...]] = ()

    def model_inputs(self, split: "Split") -> "np.ndarray":
        """What the Keras and TFLite models take for a split (raw inputs, as float32 by default)."""
        import numpy as np

        return split.x.astype(np.float32)

    def serving_inputs(self, split: "Split") -> "np.ndarray":
        """What the SavedModel takes (the same as the Keras model, unless it carries preprocessing)."""
        return self.model_inputs(split)

    def representative_samples(self, splits: "Splits") -> "np.ndarray":
        """Single samples from the training data that calibrate int8 quantization (default: the
        first 300 training inputs; images draw theirs from the augmented pipeline, time series
        spread theirs over the whole training period)."""
        return self.model_inputs(splits.train)[:300]

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

    def quantize_apart(self, model: "keras.Model") -> bool:
        """Whether the int8 quantizer runs in a child process (`convert_tflite_isolated`): where it
        is known to crash the whole process, which no `except` catches, for recurrent layers."""
        from solutions.common.export import tflite_batch

        return tflite_batch(model) is not None

    def load_fitted(self, run: "Run") -> dict[str, Any]:
        """A finished run's `fitted`, read back from the files `write_artifacts` saved."""
        return {}

    def tflite_tensors(self, splits: "Splits", options: Mapping[str, Any], variant: str
                       ) -> tuple[list["TensorInfo"], list["TensorInfo"]]:
        """What the metadata of a `variant` .tflite says of its inputs and outputs, by position:
        names, descriptions, value ranges, labels (the default only names them)."""
        from solutions.common.tflite_metadata import TensorInfo

        return ([TensorInfo("input", f"What the {self.name} model takes.")],
                [TensorInfo("output", f"What the {self.name} model gives.")])

    def serving_instances(self, split: "Split") -> list:
        """A split as a TF Serving client sends it to `serving_default`: one JSON row per example
        (the SavedModel's inputs as lists by default; images as {"b64": PNG}, ids as strings)."""
        return self.serving_inputs(split).tolist()

    def serving_model(self, model: "keras.Model", splits: "Splits", fitted: dict[str, Any],
                      options: Mapping[str, Any]) -> "ServingModel":
        """The signatures of `<run>/serving/<name>/<version>/` (`solutions.common.serving_export`);
        by default the model on its own input, answering `output`."""
        from solutions.common.serving_export import ServingModel, model_endpoint

        return ServingModel((model_endpoint(model, "serve", "output"),), track=(model,),
                            instances=self.serving_instances(splits.test))

    def edge_models(self, model: "keras.Model", splits: "Splits", fitted: dict[str, Any],
                    options: Mapping[str, Any], variants: list[str]) -> list["EdgeModel"]:
        """Edge variants for on-device task runtimes (`solutions.common.edge`), given the TFLite
        `variants` being built (edge_uint8 goes with int8); none by default."""
        return []


@dataclass(frozen=True)
class ReportText:
    """What report.md says in words: its heading, notes on the data and method, and how to use
    the exported files."""

    title: str
    notes: list[str] = field(default_factory=list)
    usage: str = ""


class ReportHooks:
    """What report.md says beyond the figures and plots."""

    def report_text(self, splits: "Splits", run_path: Path) -> ReportText:
        """The report's heading, its notes (the split, skipped inputs, what a reader must know) and
        the usage of the run's exported files at `run_path` (Markdown)."""
        return ReportText(f"{self.name} on {splits.source.get('name')}", [], f"`solutions predict {run_path} ...`")
