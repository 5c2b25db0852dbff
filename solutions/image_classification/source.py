"""image-classification's data source: its named datasets (digits, MNIST, Fashion-MNIST, CIFAR)."""

from __future__ import annotations

from typing import Any


class NamedImageSource:
    """The named datasets, read from the publishers' files (data.py)."""

    def load_named(self, name: str, options: dict[str, Any]):
        from solutions.image_classification.data import load_dataset

        return load_dataset(name, options)
