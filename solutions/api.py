"""The kit as a library: train, load, tune, and what a finished run does (metrics, predict,
evaluate, export). The command line is a thin layer over these functions.

    import solutions
    run = solutions.train("image-classification", epochs=5)
    run.metrics["test"]["accuracy"], run.report_path
    run.predict(["digit.png"], variant="int8")

Options are keyword arguments with the CLI flags' names (underscores for dashes) and defaults; they
go through the same parser as the command line, so a bad one raises the same one-line `UserError`.
Nothing here loads TensorFlow until a run needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from solutions import flags as opts
from solutions.common.errors import UserError
from solutions.common.solution import Solution, all_solutions, get_solution


def domains() -> list[str]:
    """The registered domains' names."""
    return [s.name for s in all_solutions()]


def options(domain: str, *, verb: str = "train") -> dict[str, dict[str, Any]]:
    """Every option of `domain` (`verb` "train" or "tune"): name -> default, type, choices, flag, help."""
    return opts.option_table(get_solution(domain), verb)


def train_options(domain: str, config: str | Path | None = None, argv: Sequence[str] = (),
                  **values: Any) -> dict[str, Any]:
    """The options a train would run with: the config file's, then `values`, then `argv` (flags)."""
    solution = get_solution(domain)
    parser = opts.domain_parser(solution)
    given = {**values, **opts.typed(parser, argv)}
    file = opts.read_config(config, parser, domain) if config is not None else {}
    return opts.finish(solution, opts.parse(parser, opts.merge_config(parser, file, given)))


def train(domain: str, *, config: str | Path | None = None, resume: bool = False, **values: Any) -> "Run":
    """Train, evaluate, export and report one run of `domain`; return the finished run.

    `config`: a run's config.json (or a YAML/JSON mapping of options) to start from; keyword
    options override its values. `resume=True` continues the interrupted run at `output` with the
    options it started with: other keyword options must be the run's own (another value is a
    UserError), and `config` is refused with it.
    """
    opts.refuse_config_on_resume(config, resume)
    solution = get_solution(domain)
    chosen = train_options(domain, config, **values)
    return _train(solution, chosen, resume=resume, given=_asked(values))


def _asked(values: dict[str, Any]) -> set[str]:
    """The options a call spells out (keyword values that are not None): on --resume they must be
    the run's own, and a search never varies them."""
    return {key for key, value in values.items() if value is not None}


def _train(solution: Solution, chosen: dict[str, Any], *, resume: bool, given: set[str] = frozenset()) -> "Run":
    from solutions.common.plan import freeze

    if resume:
        _refuse_changed_run(solution, chosen, given)
    else:
        solution.check_data_source(freeze(chosen))  # once, before TensorFlow loads: fast, clear errors
    if chosen.get("distribute") == "multi-worker":
        from solutions.common.distribute import check_tf_config

        check_tf_config()
    from solutions.common.runtime import caller_state_kept
    from solutions.common.workflow import train as run_workflow

    with caller_state_kept():
        return Run(run_workflow(solution, chosen, resume=resume, source_checked=not resume).path)


def tune(domain: str, *, config: str | Path | None = None, resume: bool = False, **values: Any) -> "Search":
    """Search hyperparameters with KerasTuner, then retrain the best configuration into
    `<search>/best` (`Search.best`). Tuner settings (tuner, max_trials, max_epochs, no_retrain,
    oracle, role, worker_id) are keyword options like the rest. A searched hyperparameter given
    here (`width=8`) is held at that value; with `resume=True` the options given must be the
    search's own."""
    opts.refuse_config_on_resume(config, resume)
    solution = get_solution(domain)
    parser = opts.domain_parser(solution, "tune")
    file = opts.read_config(config, parser, domain) if config is not None else {}
    parsed = opts.parse(parser, opts.merge_config(parser, file, values))
    settings = {k: parsed.pop(k) for k in opts.TUNE_SETTINGS}
    return Search(_tune(solution, opts.finish(solution, parsed), settings, resume=resume,
                        given=_asked(values)))


def _refuse_changed_run(solution: Solution, chosen: dict[str, Any], given: set[str]) -> None:
    """An interrupted run continues with the options it started with; others asked are an error."""
    from solutions.common.plan import refuse_changed
    from solutions.common.rundir import resume_run

    asked = {key: chosen[key] for key in given if key in chosen and key not in opts.RESUME_FREE}
    if asked:
        run, _ = resume_run(solution.name, chosen.get("output"))
        saved = solution.with_legacy_options(run.config["options"])
        refuse_changed(f"--resume continues {run.path} with the options it started with", saved, asked,
                       advice="leave them out to resume, or start a new run with them (--config "
                              f"{run.path / 'config.json'}, the new flags and another --output)",
                       resolved=run.config.get("plan"))


def _tune(solution: Solution, chosen: dict[str, Any], settings: dict[str, Any], *, resume: bool,
          given: set[str] = frozenset()) -> Path:
    asked = {key: {**chosen, **settings}[key] for key in given if key in {**chosen, **settings}}
    settings["retrain"] = not settings.pop("no_retrain")
    if "no_retrain" in asked:
        asked["retrain"] = not asked.pop("no_retrain")
    if bool(settings["oracle"]) != bool(settings["role"]):
        raise UserError("a distributed search needs both --oracle HOST:PORT and --role chief|worker")
    if settings["role"] == "worker" and not chosen.get("output"):
        raise UserError("a worker needs --output: the chief's search directory (shared)")
    if chosen.get("distribute"):
        raise UserError("--distribute applies to train; a search scales out with --oracle/--role")
    if settings["oracle"]:
        from solutions.tuning.distributed import check_chief_address, parse_address

        host, _ = parse_address(settings["oracle"])
        if settings["role"] == "chief":
            check_chief_address(host)
    if not resume:
        from solutions.common.plan import freeze

        solution.check_data_source(freeze(chosen))
    from solutions.common.runtime import caller_state_kept
    from solutions.tuning.search import run_search

    with caller_state_kept():
        return run_search(solution, chosen, settings, resume=resume, role=settings["role"],
                          command=opts.train_command,
                          asked={k: v for k, v in asked.items() if k not in opts.RESUME_FREE})


def _not_a_path(value: Any) -> str:
    kind = type(value).__name__
    raise UserError(f"predict takes file paths (str or Path) or texts, not a {kind}: "
                    "save the image to a file first (e.g. PIL's Image.save)")


def load(run_dir: str | Path) -> "Run":
    """A finished run directory (an unfinished or damaged one is one clear error)."""
    return Run(run_dir)


class Run:
    """A finished run: its files, its figures, and its model for new inputs."""

    def __init__(self, path: str | Path):
        from solutions.common.rundir import open_finished

        # absolute: a notebook that changes directory keeps its runs
        self._run = open_finished(Path(path).expanduser().resolve())
        self.path: Path = self._run.path
        self.config: dict[str, Any] = self._run.config
        self.domain: str = self.config["domain"]
        self.solution: Solution = get_solution(self.domain).for_plan(self.config.get("plan", self.config["options"]))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, domain={self.domain!r})"

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json as it is now (a re-export updates it)."""
        return self._run.read_json("metrics.json")

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    @property
    def options(self) -> dict[str, Any]:
        """The options the run was trained with (what `train(config=run.path / "config.json")` replays)."""
        return dict(self.config["options"])

    def predict(self, inputs: Sequence[Any] | None = None, *, variant: str | None = None,
                **options: Any) -> list[dict[str, Any]]:
        """Answers for new inputs, one dict per answer: image paths (image, medical), texts
        (sentiment), `user=` (recommendation), `data=` a price CSV or nothing (finance).
        `variant`: None for the Keras model, else float32, float16, dynamic or int8 (TFLite), or
        edge / edge_uint8 (the on-device files of image, medical and sentiment runs).
        `options` are the domain's predict flags (e.g. top_k, k, item, explain)."""
        from solutions.common.prediction import check_variant

        variant = check_variant(variant)
        if isinstance(inputs, (str, Path)):  # one input, not its characters
            inputs = [inputs]
        parser = opts.Parser(prog=f"solutions predict ({self.domain})", add_help=False)
        self.solution.add_predict_arguments(parser)
        chosen = opts.parse(parser, opts.to_argv(parser, options))
        inputs = [os.fspath(i) if isinstance(i, (str, os.PathLike)) else _not_a_path(i) for i in (inputs or [])]
        from solutions.common.runtime import caller_state_kept

        with caller_state_kept():
            return self.solution.predict(self._run, inputs, chosen, variant)

    def evaluate(self, *, dataset: str | None = None, data: str | Path | None = None,
                 data_dir: str | Path | None = None, split: str | None = None) -> dict[str, Any]:
        """The Keras model's metrics on its own test split, or on other data: all of it (`split`
        "all"; the default for `data` files it was not trained on) or its test split ("test"; the
        default for a `dataset`). The result's "split" says which; "left_out_seen" counts the examples
        of other data that the run trained or validated on, which are not scored."""
        from solutions.common.runtime import caller_state_kept
        from solutions.common.workflow import evaluate

        overrides = {"dataset": dataset, "data": str(data) if data else None, "data_dir": str(data_dir) if data_dir else None}
        for key in ("data", "data_dir"):
            if overrides[key]:
                overrides[key] = str(Path(overrides[key]).expanduser().resolve())
        with caller_state_kept():
            return evaluate(str(self.path), overrides, split)

    def export(self, *, format: str = "all", quantize: str = "all") -> dict[str, dict]:
        """Re-export (SavedModel, TF Serving directory and/or TFLite variants) and update metrics.json; returns each
        variant's size, parity and test metrics."""
        if format not in ("saved_model", "serving", "tflite", "all"):
            raise UserError(f"format {format!r}: choose from saved_model, serving, tflite, all")
        if quantize not in opts.QUANTIZE:
            raise UserError(f"quantize {quantize!r}: choose from {', '.join(opts.QUANTIZE)}")
        from solutions.common.runtime import caller_state_kept
        from solutions.common.workflow import export

        with caller_state_kept():
            return export(str(self.path), formats=format, quantize=quantize)


    def serve(self, *, host: str = "127.0.0.1", port: int = 8501, name: str | None = None,
              max_request_mb: float = 10.0, batch_rows: int = 64, background: bool = False):
        """Answer TensorFlow Serving REST requests with the run's serving/ model
        (`solutions.common.serving_server`): until SIGTERM or Ctrl-C, or with `background=True`
        on a thread of this process, returning a server with `.url` and `.stop()` (port 0: any
        free port)."""
        if not (0 if background else 1) <= port <= 65535:
            raise UserError(f"port {port}: choose 1..65535" + (" (0, any free port, in the background)"
                                                              if not background else ""))
        if max_request_mb <= 0 or batch_rows < 1:
            raise UserError("--max-request-mb must be > 0 and --batch-rows >= 1")
        from solutions.common.serving_server import BackgroundServer, load_server, serve

        if background:
            return BackgroundServer(load_server(self.path, name, max_request_mb=max_request_mb,
                                                batch_rows=batch_rows), host, port)
        serve(self.path, host=host, port=port, name=name, max_request_mb=max_request_mb, batch_rows=batch_rows)
        return None


class Search:
    """A search directory: its trials table, its summary and, once retrained, its best run."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().resolve()  # a notebook that changes directory keeps it

    def __repr__(self) -> str:
        return f"Search({str(self.path)!r})"

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json: trials completed, the best trial's values, objective and command line."""
        import json

        from solutions.tuning.search import SUMMARY_FILE

        file = self.path / SUMMARY_FILE
        if not file.is_file():
            raise UserError(f"{self.path} has no {SUMMARY_FILE}: the search did not finish (resume it)")
        return json.loads(file.read_text(encoding="utf-8"))

    @property
    def best(self) -> Run:
        """The best configuration retrained and exported like any run."""
        return Run(self.path / "best")
