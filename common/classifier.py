"""What every "which class is this" domain shares, whatever its input (pixels, token ids):
sparse cross-entropy training, accuracy / macro-F1 against the majority class, labels.txt beside
the model, the same decision under every exported variant, and a confusion matrix."""

from __future__ import annotations

import numpy as np

from solutions.common.files import write_text_atomic
from solutions.common.errors import UserError
from solutions.common.metrics import classification_metrics, confusion, majority_baseline
from solutions.common.rundir import Run
from solutions.common.solution import Solution


class ClassifierSolution(Solution):
    """A Solution whose model ends in class probabilities, in the order of `class_names`."""

    monitor = "val_loss"
    monitor_mode = "min"
    headline_metric = "accuracy"

    def compile(self, model, optimizer) -> None:
        import keras

        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        return classification_metrics(y_true, y_score)

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        return {"majority_class": majority_baseline(splits.train.y, splits.test.y, len(splits.class_names))}

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        write_text_atomic(run / "labels.txt", "\n".join(splits.class_names) + "\n")

    def check_compatible(self, run: Run, splits) -> None:
        labels = run_labels(run)
        if labels != splits.class_names:
            raise UserError(f"the data's classes {splits.class_names[:10]} differ from the run's {labels[:10]}")

    def predicted_classes(self, y_score: np.ndarray, fitted: dict) -> np.ndarray:
        """The class the run's decision rule picks (arg-max unless a domain stores a threshold)."""
        return y_score.argmax(-1)

    def agreement(self, reference: np.ndarray, other: np.ndarray, fitted: dict) -> float:
        """Same decision under the run's rule (the stored threshold where there is one)."""
        return float(np.mean(self.predicted_classes(reference, fitted) == self.predicted_classes(other, fitted)))

    def confusion_plot(self, run: Run, splits, y_score: np.ndarray, fitted: dict) -> str:
        from solutions.common.plots import confusion_matrix_plot

        pred = self.predicted_classes(y_score, fitted)
        names = splits.class_names
        confusion_matrix_plot(confusion(splits.test.y, pred, len(names)), names, run / "confusion_matrix.png")
        return "confusion_matrix.png"


def run_labels(run: Run) -> list[str]:
    """labels.txt, checked against the run's record: a line lost or edited would shift every
    answer after it to the next class's name, silently."""
    path = run / "labels.txt"
    if not path.exists():
        raise UserError(f"{path} is missing; it names the model's classes (re-export the run to write it)")
    labels = path.read_text(encoding="utf-8", errors="replace").split("\n")  # as written: "\n".join
    labels = labels[:-1] if labels and labels[-1] == "" else labels
    recorded = run.config.get("class_names")
    if recorded is not None and labels != list(recorded):
        raise UserError(f"{path} does not match the run's config.json ({len(labels)} lines for "
                        f"{len(recorded)} classes {recorded[:5]}{'...' if len(recorded) > 5 else ''}): it was "
                        "edited or damaged; restore it from config.json's class_names, one per line")
    return labels
