"""Numeric command-line options with their ranges, checked by argparse before TensorFlow loads.

A value outside its range (`--width 0`, `--dropout 2`, `--seed -1`) is one error line and exit
status 2, never a silent replacement or a traceback deep in Keras.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

SEED_MAX = 2**32 - 1  # numpy's and Keras' seed range


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An int in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range ({_describe(low, high, True, True)})")
        return value

    parse.__name__ = "integer"
    return parse


def real(low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A finite float in the interval from low to high, each end open or closed."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"{text} is out of range ({_describe(low, high, not low_open, not high_open)})")
        return value

    parse.__name__ = "number"
    return parse


def _describe(low, high, low_closed: bool, high_closed: bool) -> str:
    if high is None:
        return f"{'at least' if low_closed else 'more than'} {low}"
    return f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"


POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
SEED = integer(0, SEED_MAX)
FRACTION = real(0.0, 1.0, low_open=True, high_open=True)  # a split share: strictly between 0 and 1
DROPOUT = real(0.0, 1.0, high_open=True)
POSITIVE_REAL = real(0.0, low_open=True)
NON_NEGATIVE_REAL = real(0.0)
