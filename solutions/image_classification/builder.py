"""image-classification's model builder: the residual CNN or a keras.applications backbone, with
the frozen-then-fine-tuned schedule when pretrained weights were loaded."""

from __future__ import annotations

from typing import Any


class ImageModelBuilder:
    """Build the chosen model and lay out its training phases."""

    def build_model(self, options: dict[str, Any], splits):
        from solutions.image_classification.model import BACKBONES

        weights = options.get("weights", "none")
        if options["model"] in BACKBONES and weights == "imagenet":
            try:
                return self._build(options, splits, "imagenet")
            except Exception as exc:  # offline: keras raises a bare Exception on URL fetch failure
                print(f"ImageNet weights for {options['model']} could not be downloaded ({exc.__class__.__name__}); "
                      "training from random weights. Pass --weights PATH to a local .h5 file to fine-tune.")
                model = self._build(options, splits, None)
                model.resolved_options = {"weights": "none"}  # what was loaded: recorded in the plan
                return model
        return self._build(options, splits, None if weights in (None, "none") else weights)

    def _build(self, options: dict[str, Any], splits, weights: str | None):
        from solutions.image_classification.model import build_model

        return build_model(
            input_shape=tuple(splits.train.x.shape[1:]), num_classes=len(splits.class_names),
            model=options["model"], width=options["width"], depth=options["depth"],
            first_stride=options.get("first_stride") or 1,
            dropout=options["dropout"], bn_momentum=self.bn_momentum(splits, options), weights=weights,
        )

    def epoch_callbacks(self, splits, options: dict[str, Any]) -> list:
        """BatchNorm recalibration before each validation where moving averages lag
        (`batch_norm_callbacks`: a backbone, or the residual CNN over a short schedule)."""
        return [*super().epoch_callbacks(splits, options), *self.batch_norm_callbacks(splits, options)]

    def phases(self, model, options: dict[str, Any]):
        """Pretrained backbone: frozen for a quarter of the epochs, then its top fine-tuned at lr/10."""
        from solutions.common.training import Phase
        from solutions.image_classification.model import (
            BACKBONES,
            freeze_backbone,
            unfreeze_top,
        )

        if options["model"] not in BACKBONES or options.get("weights") in (None, "none"):
            return super().phases(model, options)
        head = max(1, options["epochs"] // 4)
        return [
            Phase("head", head, options["learning_rate"], prepare=freeze_backbone),
            Phase("finetune", max(1, options["epochs"] - head), options["learning_rate"] / 10, prepare=unfreeze_top),
        ]
