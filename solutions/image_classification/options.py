"""image-classification's options: backbone weights and the per-dataset default image size."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solutions.common.errors import UserError

DEFAULT_SIZES = {"digits": 16, "mnist": 28, "fashion_mnist": 28, "cifar10": 32, "cifar100": 32}


class ImageOptions:
    """The flags of `solutions train image-classification` beyond the shared image ones."""

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
        if options.get("first_stride") == 2 and options.get("model", "resnet") != "resnet":
            raise UserError(f"--first-stride 2 shapes the residual CNN (--model resnet); {options['model']} "
                            "keeps its own stem")
