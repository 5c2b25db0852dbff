"""The options of `train` and `tune`, declared once as argparse parsers and read three ways: from
the command line, from keyword arguments of the Python API, and from a run's config.json (or a
YAML file with the same keys). All three go through the same parser, so a bad value gets the same
one-line message whichever way it came, and the names and defaults are the CLI flags'.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from solutions.common import ranges
from solutions.common.distribute import STRATEGIES
from solutions.common.errors import UserError
from solutions.common.solution import Solution

TRAIN_DEFAULTS = dict(epochs=40, batch_size=64, learning_rate=3e-3, patience=10, seed=42, val_split=0.15, test_split=0.15)
QUANTIZE = ("none", "dynamic", "float16", "int8", "all")
TUNE_SETTINGS = ("tuner", "max_trials", "max_epochs", "no_retrain", "oracle", "role", "worker_id")
# What --resume lets differ from the run's (search's) own options: where it is, and a distributed
# search process's own address, role and name. Everything else asked again must match.
RESUME_FREE = frozenset({"output", "oracle", "role", "worker_id"})


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage block) with exit status 2, and flags are
    spelled out (an abbreviation would be read differently once merged with a config file)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


OUTPUT_HELP = {"train": "the run directory (default saved_models/<domain>/<run-id>)",
               "tune": "the search directory (default saved_models/<domain>/tuning/<time>-<dataset>); the best "
                       "configuration is retrained into <search>/best"}
RESUME_HELP = {"train": "continue the interrupted run (--output, else the newest)",
               "tune": "continue the interrupted search (--output, else the newest unfinished one under "
                       "saved_models/<domain>/tuning/)"}


def add_train_options(parser: argparse.ArgumentParser, solution: Solution, verb: str = "train") -> None:
    """The flags every domain's `train` (and `tune`) has, with the domain's defaults, then the
    domain's own; `verb` words what --output names (a run, or a search)."""
    d = {**TRAIN_DEFAULTS, **solution.train_defaults}
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--dataset", default=None, help=f"a named dataset (default: {solution.default_dataset})")
    src.add_argument("--data", default=None, help="your own data (see the README for the layout)")
    parser.add_argument("--data-dir", default=None, help="where named datasets are read from / downloaded to "
                        "(default: $SOLUTIONS_DATA_DIR, else ~/.cache/solutions/datasets)")
    parser.add_argument("--epochs", type=ranges.POSITIVE, default=d["epochs"],
                        help=None if d["epochs"] else "default: chosen from the data, printed and kept in config.json")
    parser.add_argument("--batch-size", type=ranges.POSITIVE, default=d["batch_size"],
                        help=None if d["batch_size"] else "default: chosen from the data, printed and kept in "
                                                          "config.json")
    parser.add_argument("--learning-rate", type=ranges.POSITIVE_REAL, default=d["learning_rate"], help="peak learning rate")
    parser.add_argument("--patience", type=ranges.NON_NEGATIVE, default=d["patience"],
                        help="early-stopping patience (epochs)" if d["patience"] is not None else
                        "early-stopping patience (epochs; default: the number of epochs, i.e. every epoch is "
                        "trained and the best validation epoch is kept)")
    parser.add_argument("--seed", type=ranges.SEED, default=d["seed"])
    parser.add_argument("--val-split", type=ranges.FRACTION, default=d["val_split"])
    parser.add_argument("--test-split", type=ranges.FRACTION, default=d["test_split"])
    parser.add_argument("--output", default=None, help=OUTPUT_HELP[verb])
    parser.add_argument("--quantize", choices=QUANTIZE, default="all",
                        help="TFLite variants to build besides float32 (none: float32 only)")
    parser.add_argument("--no-export", action="store_true", help="skip SavedModel/TFLite export")
    parser.add_argument("--distribute", choices=STRATEGIES, default=None,
                        help="train through tf.distribute: mirrored (this machine's devices) or multi-worker "
                             "(MultiWorkerMirroredStrategy; every worker runs the same command with its TF_CONFIG)")
    solution.add_arguments(parser)


def add_tune_options(parser: argparse.ArgumentParser) -> None:
    from solutions.tuning import TUNERS

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


def add_run_flags(parser: argparse.ArgumentParser, verb: str = "train") -> None:
    """Flags of the command itself, not options of the run (not in config.json)."""
    parser.add_argument("--resume", action="store_true", help=RESUME_HELP[verb])
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="a run's config.json (or a YAML/JSON file of options): re-run it; flags given here "
                             "override the file's values")


def refuse_config_on_resume(config: Any, resume: bool) -> None:
    """--resume replays the run's own options; a --config file beside it was once ignored."""
    if config is not None and resume:
        raise UserError("--resume continues a run (or search) with the options it started with, and --config "
                        "starts a new one from a file: give one of them")


def domain_parser(solution: Solution, verb: str = "train") -> Parser:
    """The option parser of `solutions <verb> <domain>` alone (what the Python API parses with)."""
    if verb not in OUTPUT_HELP:
        raise UserError(f"verb {verb!r}: expected one of {', '.join(OUTPUT_HELP)}")
    parser = Parser(prog=f"solutions {verb} {solution.name}", add_help=False)
    add_train_options(parser, solution, verb)
    if verb == "tune":
        add_tune_options(parser)
    return parser


def option_table(solution: Solution, verb: str = "train") -> dict[str, dict[str, Any]]:
    """Every option of a domain: name -> default, type, choices, help (`solutions.options`)."""
    table = {}
    for action in domain_parser(solution, verb)._actions:
        if not action.option_strings:
            continue
        kind = "bool" if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction) else (
            getattr(action.type, "__name__", "str") if action.type else "str")
        table[action.dest] = {"default": action.default, "type": kind,
                              "choices": list(action.choices) if action.choices else None,
                              "flag": action.option_strings[0], "help": action.help or ""}
    return table


def to_argv(parser: argparse.ArgumentParser, values: Mapping[str, Any]) -> list[str]:
    """Keyword values -> the command-line tokens that mean the same (None keeps the default)."""
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    argv: list[str] = []
    for key, value in values.items():
        action = actions.get(key)
        if action is None:
            raise UserError(f"{parser.prog}: unrecognized arguments: --{key.replace('_', '-')}")
        if value is None:
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction) or action.nargs == 0:
            if not isinstance(value, bool):
                raise UserError(f"{parser.prog}: argument {flag}: give True or False, not {value!r}")
            if isinstance(action, argparse.BooleanOptionalAction):
                argv.append(flag if value else f"--no-{flag[2:]}")
            elif value:
                argv.append(flag)
            continue
        if isinstance(value, (list, tuple, dict, set)):
            raise UserError(f"{parser.prog}: argument {flag}: expected one value, not {value!r}")
        argv.append(f"{flag}={value}")  # one token: a value may start with "-" (--rating-scale=-1,1)
    return argv


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, Any]:
    return vars(parser.parse_args(list(argv)))


def read_config(path: str | Path, parser: argparse.ArgumentParser, domain: str) -> dict[str, Any]:
    """The options a file asks for: a run's config.json (its "options", less its run directory and
    what a search recorded), or a YAML/JSON mapping of option names to values."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # a YAML or JSON syntax error: one line that says where
        raise UserError(f"--config {path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'} "
                        f"({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of option names to values")
    if isinstance(data.get("options"), dict):  # a run's config.json
        if data.get("domain", domain) != domain:
            raise UserError(f"--config {path} is a {data['domain']} run, not {domain}")
        from solutions.common.solution import get_solution

        known = {a.dest for a in parser._actions if a.option_strings} - {"output"}
        saved = get_solution(domain).with_legacy_options(data["options"])  # an older run: what it ran with
        options = {k: v for k, v in saved.items() if k in known}
        return options if "plan" in data else without_resolved(options, data["options"])
    if data.get("domain", domain) != domain:
        raise UserError(f"--config {path} is for {data['domain']}, not {domain}")
    return {str(k).replace("-", "_"): v for k, v in data.items() if k != "domain"}


def without_resolved(options: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a run written before config.json kept a "plan": they hold what the kit
    resolved among what was asked. A sequence length taken from the data is marked as such and
    left out (each --cv fold works out its own); other resolved values cannot be told from asked
    ones and are replayed as given, which reproduces that run."""
    kept = dict(options)
    if saved.get("sequence_length_from_data"):
        kept.pop("sequence_length", None)
    return kept


def typed(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, Any]:
    """Only the options `argv` spells out (parsed and checked), without the parser's defaults."""
    bare = copy.deepcopy(parser)
    for action in bare._actions:
        action.default = argparse.SUPPRESS
    return vars(bare.parse_args(list(argv)))


def merge_config(parser: argparse.ArgumentParser, config: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """The file's options overridden by those `given` (a value None or False given clears the
    file's), as command-line tokens; a source given (data/dataset) replaces the file's."""
    values = dict(config)
    if {"data", "dataset"} & set(given):
        values.pop("data", None)
        values.pop("dataset", None)
    return to_argv(parser, {**values, **given})


def finish(solution: Solution, options: dict[str, Any]) -> dict[str, Any]:
    """What every train/tune does to parsed options: absolute paths (config.json must name the same
    files from any directory), the default dataset, and the checks across options."""
    for key in ("data", "data_dir"):
        if options.get(key):
            options[key] = str(Path(options[key]).expanduser().resolve())
    if not options.get("data") and not options.get("dataset"):
        options["dataset"] = solution.default_dataset
    if options["val_split"] + options["test_split"] >= 1:
        raise UserError("--val-split and --test-split must add up to less than 1 (something is left to train on)")
    return options


def train_command(domain: str, values: dict[str, Any], options: dict[str, Any]) -> str:
    """`solutions train` with the best values and every other option of the search that is not
    the domain's default (a model chosen with --model, --epochs, the data), floats in full: it
    once left out --model and cut rates to 4 digits, so it trained another model."""
    import shlex

    from solutions.common.solution import get_solution

    parser = domain_parser(get_solution(domain), "train")
    table = option_table(get_solution(domain), "train")
    chosen = {key: value for key, value in {**options, **values}.items()
              if key in table and key not in ("output", "config") and value is not None
              and (key in values or value != table[key]["default"])}
    first = [key for key in ("data", "dataset") if key in chosen]
    ordered = {key: chosen[key] for key in [*first, *(k for k in chosen if k not in first)]}
    return " ".join(["solutions", "train", domain, *map(shlex.quote, to_argv(parser, ordered))])
