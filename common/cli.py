"""The `solutions` command: list, train, evaluate, predict, export, tune.

Heavy imports (TensorFlow) happen only after the arguments and the data source have been checked,
so a user's mistake is answered at once with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from typing import Sequence

from common.distribute import STRATEGIES
from common import ranges
from common.errors import UserError

TRAIN_DEFAULTS = dict(epochs=40, batch_size=64, learning_rate=3e-3, patience=10, seed=42, val_split=0.15, test_split=0.15)
# Failures of the machine a user can fix: a full disk or quota, a read-only or forbidden directory.
USER_FIXABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def machine_error(exc: BaseException) -> str | None:
    """The strerror of a full disk or an unwritable place, also when HDF5 or TensorFlow wrapped it."""
    if isinstance(exc, OSError) and exc.errno in USER_FIXABLE_ERRNOS:
        return os.strerror(exc.errno)
    text = f"{exc} {exc.__cause__ or ''}"
    return next((os.strerror(n) for n in USER_FIXABLE_ERRNOS if os.strerror(n) in text), None)


QUANTIZE = ("none", "dynamic", "float16", "int8", "all")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage block) with exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _add_train_options(parser: argparse.ArgumentParser, default_dataset: str, overrides: dict) -> None:
    d = {**TRAIN_DEFAULTS, **overrides}
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--dataset", default=None, help=f"a named dataset (default: {default_dataset})")
    src.add_argument("--data", default=None, help="your own data (see the README for the layout)")
    parser.add_argument("--data-dir", default=None, help="where named datasets are read from / downloaded to "
                        "(default: $SOLUTIONS_DATA_DIR, else ~/.cache/solutions/datasets)")
    parser.add_argument("--epochs", type=ranges.POSITIVE, default=d["epochs"])
    parser.add_argument("--batch-size", type=ranges.POSITIVE, default=d["batch_size"])
    parser.add_argument("--learning-rate", type=ranges.POSITIVE_REAL, default=d["learning_rate"], help="peak learning rate")
    parser.add_argument("--patience", type=ranges.NON_NEGATIVE, default=d["patience"], help="early-stopping patience (epochs)")
    parser.add_argument("--seed", type=ranges.SEED, default=d["seed"])
    parser.add_argument("--val-split", type=ranges.FRACTION, default=d["val_split"])
    parser.add_argument("--test-split", type=ranges.FRACTION, default=d["test_split"])
    parser.add_argument("--output", default=None, help="the run directory (default saved_models/<domain>/<run-id>)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run (--output, else the newest)")
    parser.add_argument("--quantize", choices=QUANTIZE, default="all",
                        help="TFLite variants to build besides float32 (none: float32 only)")
    parser.add_argument("--no-export", action="store_true", help="skip SavedModel/TFLite export")
    parser.add_argument("--distribute", choices=STRATEGIES, default=None,
                        help="train through tf.distribute: mirrored (this machine's devices) or multi-worker "
                             "(MultiWorkerMirroredStrategy; every worker runs the same command with its TF_CONFIG)")


def _add_tune_options(parser: argparse.ArgumentParser) -> None:
    from tuning import TUNERS

    parser.add_argument("--tuner", choices=TUNERS, default="bayesian")
    parser.add_argument("--max-trials", type=ranges.POSITIVE, default=10)
    parser.add_argument("--max-epochs", type=ranges.POSITIVE, default=10,
                        help="epochs per trial (hyperband: of its longest); the best is retrained with --epochs")
    parser.add_argument("--no-retrain", action="store_true",
                        help="stop after the search (no retraining of the best configuration into <search>/best)")
    parser.add_argument("--oracle", default=None, metavar="HOST:PORT",
                        help="distributed search: the chief serves the oracle here, workers ask it for trials")
    parser.add_argument("--role", choices=("chief", "worker"), default=None)
    parser.add_argument("--worker-id", default=None, help="a worker's name in the trial table (default host-pid)")


def build_parser() -> argparse.ArgumentParser:
    from common.solution import all_solutions

    parser = _Parser(prog="solutions", description="Train, evaluate and ship Keras models for five everyday problems.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    verbs.add_parser("list", help="domains, their datasets and models")

    train = verbs.add_parser("train", help="train on a dataset and leave a ready-to-ship run directory")
    domains = train.add_subparsers(dest="domain", required=True, parser_class=_Parser)
    for solution in all_solutions():
        sub = domains.add_parser(solution.name, help=solution.summary)
        _add_train_options(sub, solution.default_dataset, solution.train_defaults)
        solution.add_arguments(sub)

    evaluate = verbs.add_parser("evaluate", help="score a run's model on its test split (or other data)")
    evaluate.add_argument("run_dir")
    src = evaluate.add_mutually_exclusive_group()
    src.add_argument("--dataset")
    src.add_argument("--data")
    evaluate.add_argument("--data-dir")

    tune = verbs.add_parser("tune", help="search hyperparameters with KerasTuner, then retrain the best")
    tune_domains = tune.add_subparsers(dest="domain", required=True, parser_class=_Parser)
    for solution in all_solutions():
        sub = tune_domains.add_parser(solution.name, help=solution.summary,
                                      description="--output names the search directory; the best configuration "
                                                  "is retrained into <search>/best")
        _add_train_options(sub, solution.default_dataset, solution.train_defaults)
        solution.add_arguments(sub)
        _add_tune_options(sub)

    predict = verbs.add_parser("predict", help="answer for new inputs with a run's model", add_help=False)
    predict.add_argument("run_dir")

    export = verbs.add_parser("export", help="(re-)export a run as SavedModel and/or TFLite")
    export.add_argument("run_dir")
    export.add_argument("--format", choices=("saved_model", "tflite", "all"), default="all")
    export.add_argument("--quantize", choices=QUANTIZE, default="all")
    return parser


def _list() -> None:
    from common.solution import all_solutions

    for s in all_solutions():
        print(f"{s.name}: {s.summary}")
        print("  datasets: " + ", ".join(d.name + (" (default)" if d.name == s.default_dataset else "") for d in s.datasets))
        for d in s.datasets:
            print(f"    {d.name:<16} {d.description}")
        print("  models:   " + ", ".join(m + (" (default)" if m == s.default_model else "") for m in s.models))


def resolve_paths(options: dict) -> dict:
    """Absolute --data / --data-dir: config.json must name the same files from any directory."""
    from pathlib import Path

    for key in ("data", "data_dir"):
        if options.get(key):
            options[key] = str(Path(options[key]).expanduser().resolve())
    return options


def _train(args: argparse.Namespace) -> None:
    from common.solution import get_solution

    solution = get_solution(args.domain)
    options = resolve_paths({k: v for k, v in vars(args).items() if k not in ("verb", "domain", "resume")})
    if not options.get("data") and not options.get("dataset"):
        options["dataset"] = solution.default_dataset
    if options["val_split"] + options["test_split"] >= 1:
        raise UserError("--val-split and --test-split must add up to less than 1 (something is left to train on)")
    if not args.resume:
        solution.check_data_source(options)  # before TensorFlow loads: fast, clear errors
    if options.get("distribute") == "multi-worker":
        from common.distribute import check_tf_config

        check_tf_config()
    from common.workflow import train

    train(solution, options, resume=args.resume)


def _tune(args: argparse.Namespace) -> None:
    from common.solution import get_solution

    solution = get_solution(args.domain)
    tune_keys = ("tuner", "max_trials", "max_epochs", "no_retrain", "oracle", "role", "worker_id")
    settings = {k: getattr(args, k) for k in tune_keys}
    settings["retrain"] = not settings.pop("no_retrain")
    options = resolve_paths({k: v for k, v in vars(args).items() if k not in ("verb", "domain", "resume", *tune_keys)})
    if not options.get("data") and not options.get("dataset"):
        options["dataset"] = solution.default_dataset
    if bool(settings["oracle"]) != bool(settings["role"]):
        raise UserError("a distributed search needs both --oracle HOST:PORT and --role chief|worker")
    if settings["role"] == "worker" and not options.get("output"):
        raise UserError("a worker needs --output: the chief's search directory (shared)")
    if options.get("distribute"):
        raise UserError("--distribute applies to train; a search scales out with --oracle/--role")
    if settings["oracle"]:
        from tuning.distributed import parse_address

        host, _ = parse_address(settings["oracle"])
        if settings["role"] == "chief":
            from tuning.distributed import check_chief_address

            check_chief_address(host)
    if not args.resume:
        solution.check_data_source(options)
    from tuning.search import run_search

    run_search(solution, options, settings, resume=args.resume, role=settings["role"])


PREDICT_HELP = """usage: solutions predict RUN_DIR [INPUT ...] [--tflite] [options of the run's domain]

Answer for new inputs with a finished run's model: image files (image-classification,
medical-imaging), sentences (sentiment), --user ID (recommendation), --data recent.csv
(timeseries-finance). `solutions predict RUN_DIR --help` lists the options of that run's domain."""


def _predict(argv: Sequence[str]) -> None:
    from common.rundir import open_finished
    from common.solution import get_solution

    head = _Parser(prog="solutions predict", add_help=False)
    head.add_argument("run_dir")
    known, _ = head.parse_known_args(argv)
    run = open_finished(known.run_dir)
    solution = get_solution(run.config["domain"])
    parser = _Parser(prog="solutions predict", description=f"predict with a {solution.name} run")
    parser.add_argument("run_dir")
    parser.add_argument("inputs", nargs="*", help="inputs to answer for")
    parser.add_argument("--tflite", action="store_true", help="use the float32 TFLite model instead of Keras")
    solution.add_predict_arguments(parser)
    solution.predict(run, parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed, not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        if argv[:1] == ["predict"]:
            if argv[1:2] in (["-h"], ["--help"]):
                print(PREDICT_HELP)
                return 0
            _predict(argv[1:])
            return 0
        args = build_parser().parse_args(argv)
        if args.verb == "list":
            _list()
        elif args.verb == "train":
            _train(args)
        elif args.verb == "tune":
            _tune(args)
        elif args.verb == "evaluate":
            from common.workflow import evaluate

            result = evaluate(args.run_dir, resolve_paths({"dataset": args.dataset, "data": args.data,
                                                           "data_dir": args.data_dir}))
            print(json.dumps(result, indent=2))
        elif args.verb == "export":
            from common.workflow import export

            results = export(args.run_dir, formats=args.format, quantize=args.quantize)
            for name, e in results.items():
                print(f"{name:<12} {e['bytes']:>10} bytes  max|diff| {e['max_abs_diff']:.2e}  "
                      f"agreement {e['agreement']:.4f}  {json.dumps(e['test'])}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        reason = machine_error(exc)
        if reason is None:
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {reason.lower()}{where}: free space or choose a writable --output; "
              "an interrupted run continues with --resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the run stays unfinished (<run>.partial); continue it with --resume", file=sys.stderr)
        return 130
    return 0
