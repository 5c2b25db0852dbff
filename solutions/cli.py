"""The `solutions` command: list, train, evaluate, predict, export, tune.

Heavy imports (TensorFlow) happen only after the arguments and the data source have been checked,
so a user's mistake is answered at once with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
from typing import Sequence

from solutions import flags as opts
from solutions.common.errors import UserError

# Failures of the machine a user can fix: a full disk or quota, a read-only or forbidden directory.
USER_FIXABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def machine_error(exc: BaseException) -> str | None:
    """The strerror of a full disk or an unwritable place, also when HDF5 or TensorFlow wrapped it."""
    if isinstance(exc, OSError) and exc.errno in USER_FIXABLE_ERRNOS:
        return os.strerror(exc.errno)
    text = f"{exc} {exc.__cause__ or ''}"
    return next((os.strerror(n) for n in USER_FIXABLE_ERRNOS if os.strerror(n) in text), None)


def build_parser() -> argparse.ArgumentParser:
    from solutions.common.solution import all_solutions

    import solutions

    parser = opts.Parser(prog="solutions", description="Train, evaluate and ship Keras models for five everyday problems.")
    parser.add_argument("--version", action="version", version=f"keras-solutions-kit {solutions.__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=opts.Parser)
    verbs.add_parser("list", help="domains, their datasets and models")

    train = verbs.add_parser("train", help="train on a dataset and leave a ready-to-ship run directory")
    domains = train.add_subparsers(dest="domain", required=True, parser_class=opts.Parser)
    for solution in all_solutions():
        sub = domains.add_parser(solution.name, help=solution.summary)
        opts.add_train_options(sub, solution)
        opts.add_run_flags(sub)

    evaluate = verbs.add_parser("evaluate", help="score a run's model on its test split (or other data)")
    evaluate.add_argument("run_dir")
    src = evaluate.add_mutually_exclusive_group()
    src.add_argument("--dataset")
    src.add_argument("--data")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--split", choices=("test", "all"), default=None,
                          help="what of other data to score: all (the default for --data files the run was not "
                               "trained on) or its test split (the default for a --dataset); the run's own files: "
                               "always their test split")

    tune = verbs.add_parser("tune", help="search hyperparameters with KerasTuner, then retrain the best")
    tune_domains = tune.add_subparsers(dest="domain", required=True, parser_class=opts.Parser)
    for solution in all_solutions():
        sub = tune_domains.add_parser(solution.name, help=solution.summary,
                                      description="--output names the search directory; the best configuration "
                                                  "is retrained into <search>/best")
        opts.add_train_options(sub, solution, "tune")
        opts.add_tune_options(sub)
        opts.add_run_flags(sub, "tune")

    predict = verbs.add_parser("predict", help="answer for new inputs with a run's model", add_help=False)
    predict.add_argument("run_dir")

    export = verbs.add_parser("export", help="(re-)export a run: SavedModel, TF Serving directory (serving/), TFLite")
    export.add_argument("run_dir")
    export.add_argument("--format", choices=("saved_model", "serving", "tflite", "all"), default="all")
    export.add_argument("--quantize", choices=opts.QUANTIZE, default="all")

    serve = verbs.add_parser("serve", help="answer TensorFlow Serving REST requests with a run's model",
                             description="Serve <run>/serving/<name>/<version>/ with TF Serving's REST API: "
                                         "POST /v1/models/NAME:predict, GET /v1/models/NAME[/metadata].")
    serve.add_argument("run_dir")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this "
                       "machine only; 0.0.0.0 is every interface, with no authentication)")
    serve.add_argument("--port", type=int, default=8501, help="TCP port (default 8501, as TF Serving's REST port)")
    serve.add_argument("--name", default=None, help="the model name in URLs (default: the serving directory's)")
    serve.add_argument("--max-request-mb", type=float, default=10.0, help="largest request body (default 10 MiB)")
    serve.add_argument("--batch-rows", type=int, default=64, help="most rows merged into one model call (default 64)")
    return parser


def _list() -> None:
    from solutions.common.solution import all_solutions

    for s in all_solutions():
        print(f"{s.name}: {s.summary}")
        print("  datasets: " + ", ".join(d.name + (" (default)" if d.name == s.default_dataset else "") for d in s.datasets))
        for d in s.datasets:
            print(f"    {d.name:<16} {d.description}")
        print("  models:   " + ", ".join(m + (" (default)" if m == s.default_model else "") for m in s.models))


def _options(args: argparse.Namespace, argv: Sequence[str], verb: str) -> tuple[dict, set[str]]:
    """The parsed flags, with --config the file's options overridden by the flags typed here; and
    the names of the options typed, which --resume checks against the run's own and a search
    never varies."""
    from solutions.common.solution import get_solution

    opts.refuse_config_on_resume(args.config, args.resume)
    values = {k: v for k, v in vars(args).items() if k not in ("verb", "domain", "resume", "config")}
    parser = opts.domain_parser(get_solution(args.domain), verb)
    command = opts.Parser(prog=f"solutions {verb} {args.domain}", add_help=False)
    opts.add_run_flags(command, verb)
    _, rest = command.parse_known_args(list(argv[2:]))  # the flags typed besides --config/--resume
    typed = opts.typed(parser, rest)
    if not args.config:
        return values, set(typed)
    file = opts.read_config(args.config, parser, args.domain)
    return opts.parse(parser, opts.merge_config(parser, file, typed)), set(typed)


def _train(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from solutions.api import _train as train
    from solutions.common.solution import get_solution

    solution = get_solution(args.domain)
    values, given = _options(args, argv, "train")
    train(solution, opts.finish(solution, values), resume=args.resume, given=given)


def _tune(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from solutions.api import _tune as tune
    from solutions.common.solution import get_solution

    solution = get_solution(args.domain)
    values, given = _options(args, argv, "tune")
    settings = {k: values.pop(k) for k in opts.TUNE_SETTINGS}
    tune(solution, opts.finish(solution, values), settings, resume=args.resume, given=given)


PREDICT_HELP = """usage: solutions predict RUN_DIR [INPUT ...] [--tflite] [--variant V] [options of the run's domain]

Answer for new inputs with a finished run's model: image files (image-classification,
medical-imaging), sentences (sentiment), --user ID (recommendation), --data recent.csv
(timeseries-finance). --tflite answers with the float32 TFLite model, --variant float16|dynamic|int8
with another, --variant edge|edge_uint8 with the on-device model (image, medical: an RGB frame;
sentiment: raw text through the regex tokenizer in the file). `solutions predict RUN_DIR --help`
lists the options of that run's domain."""


def _predict(argv: Sequence[str]) -> None:
    from solutions.api import Run
    from solutions.common.prediction import variant_names

    head = opts.Parser(prog="solutions predict", add_help=False)
    head.add_argument("run_dir")
    known, _ = head.parse_known_args(argv)
    run = Run(known.run_dir)
    parser = opts.Parser(prog="solutions predict", description=f"predict with a {run.domain} run")
    parser.add_argument("run_dir")
    parser.add_argument("inputs", nargs="*", help="inputs to answer for")
    parser.add_argument("--tflite", action="store_true", help="use a TFLite model instead of Keras (float32 "
                        "unless --variant says otherwise)")
    parser.add_argument("--variant", choices=variant_names()[1:], default=None,
                        help="the TFLite variant to answer with (implies --tflite)")
    run.solution.add_predict_arguments(parser)
    args = vars(parser.parse_args(argv))
    inputs, tflite, variant = args.pop("inputs"), args.pop("tflite"), args.pop("variant")
    args.pop("run_dir")
    variant = variant or ("float32" if tflite else None)
    answers = run.predict(inputs, variant=variant, **args)
    for line in run.solution.describe(answers, args):
        print(line)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, systemd, a batch scheduler's time limit) handled as Ctrl-C is: the epoch
    being committed is finished, the resume command printed, exit status 143."""


def _raise_terminated(signum, frame):
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    finally:
        if previous is not None:  # None: a handler installed outside Python, which cannot be put back
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None = None) -> int:
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
            _train(args, argv)
        elif args.verb == "tune":
            _tune(args, argv)
        elif args.verb == "evaluate":
            from solutions.api import load

            result = load(args.run_dir).evaluate(dataset=args.dataset, data=args.data, data_dir=args.data_dir,
                                                 split=args.split)
            print(json.dumps(result, indent=2))
        elif args.verb == "serve":
            from solutions.api import load

            load(args.run_dir).serve(host=args.host, port=args.port, name=args.name,
                                     max_request_mb=args.max_request_mb, batch_rows=args.batch_rows)
        elif args.verb == "export":
            from solutions.api import load

            results = load(args.run_dir).export(format=args.format, quantize=args.quantize)
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
    except KeyboardInterrupt as exc:  # train and tune have said how to continue
        terminated = isinstance(exc, _Terminated)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        return 143 if terminated else 130
    return 0
