"""timeseries-finance's options: target, horizon, window and model flags, their checks, the
search space, and what they imply (headline metric, walk-forward folds)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solutions.common import ranges
from solutions.common.errors import UserError
from solutions.timeseries_finance.data import ARCH_DATASETS, read_csv
from solutions.timeseries_finance.features import TARGETS

MODEL_NAMES = ("gru", "lstm", "conv1d", "transformer")


class FinanceOptions:
    """The flags of `solutions train timeseries-finance` and `predict`, checked before TensorFlow loads."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", choices=self.models, default=self.default_model)
        parser.add_argument("--target", choices=TARGETS, default="volatility",
                            help="volatility: variance of the next H days' log returns (QLIKE); "
                                 "return: their sum (MSE, or quantiles)")
        parser.add_argument("--horizon", type=ranges.POSITIVE, default=1, help="forecast the next H trading days")
        parser.add_argument("--lookback", type=ranges.integer(2), default=22, help="trading days in each input window")
        parser.add_argument("--quantiles", action="store_true",
                            help="return target: forecast the 10/50/90%% quantiles (pinball loss)")
        parser.add_argument("--width", type=ranges.POSITIVE, default=32, help="units (recurrent) or channels (conv1d, transformer)")
        parser.add_argument("--depth", type=ranges.POSITIVE, default=1, help="recurrent layers, conv stacks or encoder blocks")
        parser.add_argument("--dropout", type=ranges.DROPOUT, default=0.1)
        parser.add_argument("--walk-forward", type=ranges.integer(2), default=None, metavar="K",
                            help="cut the test period into K blocks; each is tested by a model re-fitted "
                                 "on everything before it (the last block's model is the exported one)")
        parser.add_argument("--cost-bps", type=ranges.NON_NEGATIVE_REAL, default=5.0,
                            help="return target: transaction cost per position change, in basis points")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", default=None,
                            help="a CSV of recent daily prices (default: the run's own dataset)")

    def headline(self, options: dict[str, Any]) -> str:
        return "qlike" if options.get("target", "volatility") == "volatility" else "rmse"

    def folds(self, options: dict[str, Any]) -> int | None:
        return options.get("walk_forward")

    def resampling(self, options: dict[str, Any]) -> dict[str, str]:
        k = options.get("walk_forward")
        return {"scheme": "walk-forward",
                "note": f"The test period is cut into {k} consecutive blocks. Fold 1 is the last block, tested by "
                        "the exported model; fold f tests block "
                        f"{k}-f+1 with a model trained from scratch on every day before it (expanding window, "
                        "the validation stretch just before the block). Baselines are re-fitted the same way."}

    def search_space(self, hp, options: dict[str, Any]) -> dict[str, Any]:
        """Model family, window length, width, depth, dropout."""
        from solutions.common.search_space import optimisation

        return {"model": hp.Choice("model", ["gru", "lstm", "conv1d", "transformer"]),
                "lookback": hp.Choice("lookback", [10, 22, 44, 66]),
                "width": hp.Choice("width", [16, 32, 64]),
                "depth": hp.Int("depth", 1, 2),
                "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1),
                **optimisation(hp, lr=(1e-4, 3e-3), batches=[32, 64, 128])}

    def check_data_source(self, options: dict[str, Any]) -> None:
        if options.get("data"):
            path = Path(options["data"]).expanduser()
            if not path.is_file():
                raise UserError(f"{path} is not a file (give a CSV with a date column and Close)")
            read_csv(path)  # a missing close/date column is answered now, before TensorFlow loads
        elif options["dataset"] not in ARCH_DATASETS:
            raise UserError(f"unknown dataset {options['dataset']!r} for timeseries-finance; known: "
                            f"{', '.join(ARCH_DATASETS)}, or --data FILE.csv")
        if options.get("horizon", 1) < 1 or options.get("lookback", 22) < 2:
            raise UserError("--horizon must be at least 1 and --lookback at least 2")
        if options.get("quantiles") and options.get("target") != "return":
            raise UserError("--quantiles applies to --target return (a volatility forecast is a variance)")
        if options.get("walk_forward") is not None and options["walk_forward"] < 2:
            raise UserError(f"--walk-forward {options['walk_forward']}: needs at least 2 blocks")

    @staticmethod
    def output_name(options: dict[str, Any]) -> str:
        from solutions.timeseries_finance.model import output_kind

        return output_kind(options["target"], bool(options.get("quantiles")))
