"""medical-imaging's fixtures for the contract test: a small MedMNIST-format file of real digits."""

from pathlib import Path

import numpy as np
from PIL import Image


def case(tmp_path: Path) -> dict:
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 2
    x = np.kron(np.round(digits.images[keep] * 255 / 16).astype(np.uint8), np.ones((1, 3, 3), np.uint8))[:, :24, :24]
    y = digits.target[keep].reshape(-1, 1)
    parts = {"train": slice(0, 240), "val": slice(240, 300), "test": slice(300, None)}
    np.savez(tmp_path / "two.npz", **{f"{p}_images": x[s] for p, s in parts.items()},
             **{f"{p}_labels": y[s] for p, s in parts.items()})
    Image.fromarray(x[-1]).save(tmp_path / "scan.png")
    return {"options": dict(data=str(tmp_path / "two.npz"), epochs=1, width=8, batch_size=32, seed=0),
            "inputs": [str(tmp_path / "scan.png")],
            "predict": {"explain": True, "explain_dir": str(tmp_path / "gradcam")}}  # Grad-CAM after every variant
