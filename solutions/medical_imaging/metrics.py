"""Validation AUC during training, so early stopping and checkpoints follow what a screen is judged by."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="solutions")
class SparseAUC(keras.metrics.AUC):
    """Macro one-vs-rest ROC AUC from integer labels and class probabilities (binary included:
    with two softmax columns both one-vs-rest AUCs equal the usual AUC)."""

    def __init__(self, num_classes: int, name: str = "auc", **kwargs):
        kwargs.pop("multi_label", None)
        kwargs.pop("num_labels", None)
        super().__init__(name=name, multi_label=True, num_labels=num_classes, **kwargs)
        self.num_classes = num_classes

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        return super().update_state(keras.ops.one_hot(labels, self.num_classes), y_pred, sample_weight)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
