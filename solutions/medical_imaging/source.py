"""medical-imaging's data source: MedMNIST files (named or given as .npz) and DICOM in class folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class MedicalSource:
    """MedMNIST and DICOM beside the shared image-folder reader."""

    def load_named(self, name: str, options: dict[str, Any]):
        from solutions.medical_imaging.data import load_medmnist

        return load_medmnist(name, options)

    def load_splits(self, options: dict[str, Any]):
        data = options.get("data")
        if data and Path(data).suffix == ".npz":
            from solutions.medical_imaging.data import read_medmnist_npz

            path = Path(data).expanduser().resolve()
            return self._resize_and_resolve(read_medmnist_npz(path, None, f"npz:{path}"), options)
        return super().load_splits(options)

    def read_file(self, path: Path, size: int, channels: int) -> np.ndarray:
        if path.suffix.lower() == ".dcm":
            from solutions.medical_imaging.data import read_dicom

            return read_dicom(path, size, channels)
        return super().read_file(path, size, channels)
