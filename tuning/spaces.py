"""Search spaces: a KerasTuner `hp` -> the same options `solutions train` takes.

Every hyperparameter is named after the train option it sets (`learning_rate`, `width`, ...), so a
trial's values are a `solutions train` command line and `build_model(options, splits)` never sees
`hp`. A space may read the search's base options (e.g. the recommendation task or model chosen on
the command line) to decide what is worth searching.
"""

from __future__ import annotations

from typing import Any, Callable

import keras_tuner

Space = Callable[[keras_tuner.HyperParameters, dict[str, Any]], dict[str, Any]]


def _optimisation(hp: keras_tuner.HyperParameters, *, lr: tuple[float, float], batches: list[int]) -> dict[str, Any]:
    return {"learning_rate": hp.Float("learning_rate", lr[0], lr[1], sampling="log"),
            "batch_size": hp.Choice("batch_size", batches)}


def image_space(hp: keras_tuner.HyperParameters, options: dict[str, Any]) -> dict[str, Any]:
    """Residual CNN width/depth, dropout, augmentation strength (image-classification, medical)."""
    return {"width": hp.Choice("width", [16, 32, 48]),
            "depth": hp.Int("depth", 1, 2),
            "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1),
            "augment": hp.Choice("augment", ["none", "light", "strong"]),
            **_optimisation(hp, lr=(3e-4, 1e-2), batches=[32, 64, 128])}


def sentiment_space(hp: keras_tuner.HyperParameters, options: dict[str, Any]) -> dict[str, Any]:
    """Embedding size, width, depth and dropout of the model chosen with --model."""
    values = {"embedding_dim": hp.Choice("embedding_dim", [16, 32, 64, 128]),
              "dropout": hp.Float("dropout", 0.0, 0.6, step=0.1)}
    if options.get("model", "bow") != "bow":
        values["width"] = hp.Choice("width", [32, 64, 100, 128])
        values["depth"] = hp.Int("depth", 1, 2)
    return {**values, **_optimisation(hp, lr=(3e-4, 1e-2), batches=[32, 64, 128])}


def finance_space(hp: keras_tuner.HyperParameters, options: dict[str, Any]) -> dict[str, Any]:
    """Model family, window length, width, depth, dropout."""
    return {"model": hp.Choice("model", ["gru", "lstm", "conv1d", "transformer"]),
            "lookback": hp.Choice("lookback", [10, 22, 44, 66]),
            "width": hp.Choice("width", [16, 32, 64]),
            "depth": hp.Int("depth", 1, 2),
            "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1),
            **_optimisation(hp, lr=(1e-4, 3e-3), batches=[32, 64, 128])}


def recommendation_space(hp: keras_tuner.HyperParameters, options: dict[str, Any]) -> dict[str, Any]:
    """Per task and model: AutoRec code size and weight decay; factor/embedding size, l2 and
    dropout; the two-tower's embedding size and temperature."""
    task = options.get("task") or "rating"
    model = options.get("model") or ("two_tower" if task == "retrieval" else "autorec")
    if model == "autorec":  # full-batch: the batch size does not apply
        return {"hidden": hp.Choice("hidden", [250, 500, 750]),
                "l2": hp.Float("l2", 0.01, 0.3, sampling="log"),
                "learning_rate": hp.Float("learning_rate", 5e-4, 5e-3, sampling="log")}
    if model == "two_tower":
        return {"dim": hp.Choice("dim", [32, 64, 128]),
                "temperature": hp.Float("temperature", 0.05, 0.3, sampling="log"),
                **_optimisation(hp, lr=(3e-4, 5e-3), batches=[128, 256, 512, 1024])}
    values = {"dim": hp.Choice("dim", [16, 32, 64, 128]), "l2": hp.Float("l2", 1e-5, 1e-2, sampling="log")}
    if model == "neural":
        values["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
    return {**values, **_optimisation(hp, lr=(3e-4, 1e-2), batches=[128, 256, 512])}


SPACES: dict[str, Space] = {
    "image-classification": image_space,
    "medical-imaging": image_space,
    "sentiment": sentiment_space,
    "timeseries-finance": finance_space,
    "recommendation": recommendation_space,
}


def space_for(domain: str) -> Space:
    try:
        return SPACES[domain]
    except KeyError:
        raise KeyError(f"no search space for {domain!r}; known: {', '.join(SPACES)}") from None
