"""`image-classification`: label an image. Datasets and models are this package's own; the rest
(folders, pipeline, training, export, report, predict) is `solutions.common.image_classifier`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solutions.common.errors import UserError
from solutions.common.image_classifier import ImageClassifierSolution
from solutions.common.solution import DatasetInfo, register

DEFAULT_SIZES = {"digits": 16, "mnist": 28, "fashion_mnist": 28, "cifar10": 32, "cifar100": 32}


@register
class ImageClassification(ImageClassifierSolution):
    name = "image-classification"
    summary = "label an image (residual CNN from scratch, or a keras.applications backbone)"
    default_dataset = "digits"
    datasets = (
        DatasetInfo("digits", "1797 real 8x8 handwritten digits (scikit-learn, offline)"),
        DatasetInfo("mnist", "70k 28x28 handwritten digits (mnist/mnist.npz)"),
        DatasetInfo("fashion_mnist", "70k 28x28 clothing images (fashion-mnist/*.gz)"),
        DatasetInfo("cifar10", "60k 32x32 colour images, 10 classes (cifar-10-python.tar.gz)"),
        DatasetInfo("cifar100", "60k 32x32 colour images, 100 classes (cifar-100-python.tar.gz)"),
    )
    models = ("resnet", "mobilenet_v3_small", "efficientnet_b0")
    default_model = "resnet"
    flip_safe = frozenset({"fashion_mnist", "cifar10", "cifar100"})

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--weights", default="imagenet",
                            help="backbone weights: imagenet (downloaded when possible), none, or a local .h5 file")

    def default_image_size(self, options: dict[str, Any]) -> int:
        return DEFAULT_SIZES.get(options.get("dataset") or "", 64)

    def check_data_source(self, options: dict[str, Any]) -> None:
        super().check_data_source(options)
        weights = options.get("weights", "none")
        if weights not in ("imagenet", "none") and not Path(weights).expanduser().is_file():
            raise UserError(f"--weights {weights}: no such file (use imagenet, none, or a .h5 path)")

    def load_named(self, name: str, options: dict[str, Any]):
        from solutions.image_classification.data import load_dataset

        return load_dataset(name, options)

    def build_model(self, options: dict[str, Any], splits):
        from solutions.image_classification.model import BACKBONES

        weights = options.get("weights", "none")
        if options["model"] in BACKBONES and weights == "imagenet":
            try:
                return self._build(options, splits, "imagenet")
            except Exception as exc:  # offline: keras raises a bare Exception on URL fetch failure
                print(f"ImageNet weights for {options['model']} could not be downloaded ({exc.__class__.__name__}); "
                      "training from random weights. Pass --weights PATH to a local .h5 file to fine-tune.")
                return self._build(options, splits, None)
        return self._build(options, splits, None if weights in (None, "none") else weights)

    def _build(self, options: dict[str, Any], splits, weights: str | None):
        from solutions.image_classification.model import build_model

        model = build_model(
            input_shape=tuple(splits.train.x.shape[1:]), num_classes=len(splits.class_names),
            model=options["model"], width=options["width"], depth=options["depth"],
            dropout=options["dropout"], bn_momentum=self.bn_momentum(splits, options), weights=weights,
        )
        model.pretrained_weights = weights  # the phases follow what was loaded, not what was asked
        return model

    def phases(self, model, options: dict[str, Any]):
        """Pretrained backbone: frozen for a quarter of the epochs, then its top fine-tuned at lr/10."""
        from solutions.common.training import Phase
        from solutions.image_classification.model import BACKBONES, freeze_backbone, unfreeze_top

        if options["model"] not in BACKBONES or getattr(model, "pretrained_weights", None) is None:
            return super().phases(model, options)
        head = max(1, options["epochs"] // 4)
        return [
            Phase("head", head, options["learning_rate"], prepare=freeze_backbone),
            Phase("finetune", max(1, options["epochs"] - head), options["learning_rate"] / 10, prepare=unfreeze_top),
        ]
