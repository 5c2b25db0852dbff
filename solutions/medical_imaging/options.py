"""medical-imaging's options: the image flags plus the screening threshold rule, checked early."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solutions.common import ranges
from solutions.common.errors import UserError
from solutions.medical_imaging.data import MEDMNIST

# Mirror images are anatomically different for radiographs, CT, OCT and ultrasound (the heart is
# on the left; a flipped film is a different patient, e.g. dextrocardia), so flips are off by
# default; cells, tissue patches and skin lesions have no handedness and may be flipped.
FLIP_SAFE = frozenset({"bloodmnist", "pathmnist", "tissuemnist", "dermamnist"})


class MedicalOptions:
    """The flags of `solutions train medical-imaging` and `predict`, checked before TensorFlow loads."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--target-sensitivity", type=ranges.FRACTION, default=None,
                            help="binary: pick the threshold that reaches this validation sensitivity "
                                 "(default: Youden's J)")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_predict_arguments(parser)
        parser.add_argument("--explain", action="store_true",
                            help="write a Grad-CAM overlay <image>.gradcam.png into --explain-dir")
        parser.add_argument("--explain-dir", default=".", help="where --explain writes (default: here)")

    def default_image_size(self, options: dict[str, Any]) -> int:
        return 28 if options.get("dataset") in MEDMNIST else 64

    def check_data_source(self, options: dict[str, Any]) -> None:
        target = options.get("target_sensitivity")
        if target is not None and not 0 < target < 1:
            raise UserError(f"--target-sensitivity {target} must be between 0 and 1")
        data = options.get("data")
        if data and Path(data).suffix == ".npz":
            if not Path(data).expanduser().is_file():
                raise UserError(f"data path {data} does not exist")
            self.image_size(options)
            return
        super().check_data_source(options)
