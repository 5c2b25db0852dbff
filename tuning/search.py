"""`solutions tune <domain>`: a KerasTuner search on the validation split, its trial table and
plot, then the best configuration retrained into a normal run directory (`<search>/best/`), the
only time the test split is used.

A search directory holds `search.json` (what was asked), KerasTuner's state (`oracle.json`,
`trial_*/`), `trials.csv`, `objective_by_trial.png`, `summary.json` and `best/`. `--resume` reloads
KerasTuner's state: finished trials are kept, the interrupted one runs again from its start.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

from solutions.common.files import write_text_atomic
from solutions.common.locks import LOCK_FILE, DirectoryLock
from solutions.common.errors import UserError
from solutions.common.rundir import DEFAULT_ROOT, PARTIAL, Run
from solutions.common.solution import Solution

SEARCH_FILE = "search.json"
TABLE_FILE = "trials.csv"
PLOT_FILE = "objective_by_trial.png"
SUMMARY_FILE = "summary.json"
STAT_COLUMNS = ("seconds", "trial_peak_mb", "tuner_rss_mb")


def search_path(domain: str, label: str, output: str | None) -> Path:
    if output:
        return Path(output).expanduser()
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)
    return DEFAULT_ROOT / domain / "tuning" / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"


def newest_search(domain: str) -> Path:
    found = sorted((DEFAULT_ROOT / domain / "tuning").glob(f"*/{SEARCH_FILE}"), key=lambda p: p.stat().st_mtime)
    unfinished = [p.parent for p in found if not (p.parent / SUMMARY_FILE).exists()]
    if not unfinished:
        raise UserError(f"no unfinished {domain} search under {DEFAULT_ROOT / domain / 'tuning'} to resume")
    return unfinished[-1]


CHIEF_WAIT_SECONDS = 120


def data_fingerprint(options: dict[str, Any]) -> str | None:
    """The user's own files (--data) as the search first saw them (names, bytes, folders), or
    None for a named dataset: a --resume on files changed since then mixed trials scored on two
    datasets and retrained the best on the new one, and said nothing."""
    from solutions.common.catalogue import fingerprint_files, fingerprint_layout

    if not options.get("data"):
        return None
    path = Path(options["data"]).expanduser()
    if path.is_file():
        return fingerprint_files([path])
    if not path.is_dir():
        return None
    files = [p for p in path.rglob("*") if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(path).parts)]
    return f"{fingerprint_files(files)} {fingerprint_layout(files, path)}"


def _wait_for_chief(path: Path, seconds: float = CHIEF_WAIT_SECONDS) -> None:
    """A worker started before its chief waits for the chief's search.json in the shared search
    directory: it once wrote a search.json of its own, and the chief then refused the directory."""
    deadline = time.monotonic() + seconds
    if not (path / SEARCH_FILE).exists():
        print(f"Worker: waiting up to {seconds:.0f} s for the chief's {path / SEARCH_FILE}", flush=True)
    while not (path / SEARCH_FILE).exists():
        if time.monotonic() > deadline:
            raise UserError(f"no search at {path} ({SEARCH_FILE} is missing): start the chief with this --output "
                            "first; workers share its search directory")
        time.sleep(0.5)


def prepare_search(solution: Solution, options: dict[str, Any], settings: dict[str, Any], *, resume: bool,
                   role: str | None = None, asked: dict[str, Any] | None = None
                   ) -> tuple[Path, dict[str, Any], dict[str, Any], DirectoryLock]:
    """The search directory, locked for this process unless it is a worker (workers share the
    chief's), and the (options, settings) the search runs with: saved ones on --resume (and for
    workers joining a search), the command line's otherwise. `asked`: the options and settings the
    user gave; on --resume and for a worker they must be the saved ones (they were once ignored)."""
    lock = DirectoryLock(Path(), "search")
    if resume or role == "worker":
        path = Path(options["output"]).expanduser() if options.get("output") else newest_search(solution.name)
        if resume and role != "worker" and path.is_dir():
            lock.path = path / LOCK_FILE
            lock.acquire()
        if role == "worker":
            _wait_for_chief(path)
        if (path / SEARCH_FILE).exists():
            saved = json.loads((path / SEARCH_FILE).read_text())
            if saved["domain"] != solution.name:
                raise UserError(f"{path} is a {saved['domain']} search, not {solution.name}")
            # this process's own address and id (a resumed chief may listen on another port)
            own = {k: settings[k] for k in ("oracle", "worker_id") if settings.get(k) is not None} if role else {}
            if role != "worker" and saved.get("data_fingerprint") not in (None, data_fingerprint(saved["options"])):
                raise UserError(f"{saved['options']['data']} changed since the search {path} started (its files "
                                "differ): trials scored on two datasets cannot be compared; start a new search "
                                "with another --output")
            if role == "worker" and asked:  # the chief alone retrains the best
                asked = {key: value for key, value in asked.items() if key != "retrain"}
            if asked:
                from solutions.common.plan import refuse_changed

                searched = {**solution.with_legacy_options(saved["options"]), **saved["settings"]}
                if role == "worker":
                    refuse_changed(f"a worker runs the options of its chief's search ({path / SEARCH_FILE})", searched,
                                   asked, advice="leave them out, or give the chief's values")
                else:
                    refuse_changed(f"--resume continues the search {path} with the options it started with", searched,
                                   asked, advice="leave them out to resume, or start a new search with them (another "
                                                 "--output)")
            return path, solution.with_legacy_options(saved["options"]), {**saved["settings"], **own}, lock
        if resume:
            raise UserError(f"{path} has no {SEARCH_FILE}: nothing to resume")
    label = options.get("dataset") or Path(options["data"]).name
    path = search_path(solution.name, label, options.get("output"))
    if (path / SEARCH_FILE).exists() and role != "worker":
        raise UserError(f"{path} already holds a search; continue it with --resume or choose another --output")
    if role != "worker" and path.is_dir() and any(path.iterdir()):
        raise UserError(f"{path} is not empty and holds no search; choose another --output (a search writes "
                        "trials.csv, summary.json and plots there)")
    if path.exists() and not path.is_dir():
        raise UserError(f"--output {path} is a file, not a directory")
    path.mkdir(parents=True, exist_ok=True)
    if role != "worker":
        lock.path = path / LOCK_FILE
        lock.acquire()  # before search.json: of two searches started on one --output, one stops here
        if (path / SEARCH_FILE).exists():
            lock.release()
            raise UserError(f"{path} already holds a search; continue it with --resume or choose another --output")
    if asked:
        from solutions.tuning.spaces import searched_names

        settings = {**settings, "fixed": sorted(searched_names(solution, options) & set(asked))}
    write_text_atomic(path / SEARCH_FILE, json.dumps({"domain": solution.name, "options": options, "settings": settings,
                                                      "data_fingerprint": data_fingerprint(options)},
                                                     indent=2, default=str))
    return path, options, settings, lock


CommandFormatter = Callable[[str, dict[str, Any], dict[str, Any]], str]


def run_search(solution: Solution, options: dict[str, Any], settings: dict[str, Any], *, resume: bool = False,
               role: str | None = None, command: CommandFormatter | None = None,
               asked: dict[str, Any] | None = None) -> Path:
    """Search, tabulate, retrain the best. `settings`: tuner, max_trials, max_epochs, retrain,
    and for a distributed search oracle (HOST:PORT) and worker_id. `asked`: the options and
    settings the user gave (not their defaults): a searched one among them is held at its value
    (`settings["fixed"]`, kept in search.json), and on --resume they must be the search's own."""
    from solutions.tuning import distributed

    path, options, settings, lock = prepare_search(solution, options, settings, resume=resume, role=role,
                                                   asked=asked)
    try:
        with distributed.configured(settings.get("oracle"), role, settings.get("worker_id")):
            return _search(solution, path, options, settings, role, command)
    finally:
        lock.release()


def _search(solution: Solution, path: Path, options: dict[str, Any], settings: dict[str, Any],
            role: str | None, command: CommandFormatter | None = None) -> Path:
    from solutions.tuning import distributed
    from solutions.tuning.hypermodel import SpaceHyperModel
    from solutions.tuning.spaces import space_for
    from solutions.tuning.tuners import make_tuner
    from solutions.common.plan import before_data

    import keras_tuner

    base = {**options, "epochs": settings["max_epochs"], "no_export": True}
    solution = solution.for_plan(before_data(solution, base))  # the task's own monitor
    hypermodel = SpaceHyperModel(solution, base, space_for(solution.name), fixed=settings.get("fixed", ()))
    if settings.get("fixed"):
        print("Not searched, as asked: " + ", ".join(f"{name} {base[name]}" for name in settings["fixed"]))
    monitor, mode = solution.monitoring(base)
    objective = keras_tuner.Objective(monitor, direction=mode)
    tuner = make_tuner(settings["tuner"], hypermodel, objective=objective, max_trials=settings["max_trials"],
                       max_epochs=settings["max_epochs"], seed=options["seed"], directory=path.parent,
                       project_name=path.name, overwrite=False)
    if role == "chief" and (path / "oracle.json").exists() and not (path / "chief.json").exists():
        tuner.oracle.reload()  # KerasTuner reloads from <tuner id>.json, which a chief (it runs no trial) never writes
    done = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values()) if role != "worker" else 0
    if done:
        print(f"Resuming {path}: {done} finished trial(s) kept")
    print(f"Searching {solution.name} with {settings['tuner']}: up to {settings['max_trials']} trials of up to "
          f"{settings['max_epochs']} epochs, objective {monitor} ({mode}) on the validation split")
    started = time.perf_counter()
    try:
        if role == "chief":
            distributed.serve(tuner.oracle, settings["oracle"], path)
        elif role == "worker":
            import grpc

            from solutions.tuning.guard import authenticate_client, heartbeat, keep_going_after_a_lost_trial

            authenticate_client(tuner.oracle, settings["oracle"], path)
            keep_going_after_a_lost_trial(tuner.oracle)
            with distributed.chief_watch(settings["oracle"], heartbeat=heartbeat(tuner.oracle.stub)):
                try:
                    tuner.search(epochs=settings["max_epochs"])
                except grpc.RpcError as exc:
                    raise UserError(f"the chief at {settings['oracle']} refused this worker: "
                                    f"{exc.details() if hasattr(exc, 'details') else exc}") from None
            print(f"Worker {settings.get('worker_id')}: the chief has no more trials; exiting")
            return path
        else:
            try:
                tuner.search(epochs=settings["max_epochs"])
            except RuntimeError as exc:  # KerasTuner's own stop after 3 failed trials in a row
                if "consecutive failures" not in str(exc):
                    raise
                raise UserError(f"the search {path} stopped: {str(exc).splitlines()[0][:200]} (each trial's error "
                                "is above); fix the cause and start a new search with another --output") from None
        searched = time.perf_counter() - started
        rows = trial_rows(tuner, path)
        write_table(rows, path / TABLE_FILE)
        print_table(rows, monitor)
        if rows:
            objective_plot(rows, monitor, mode, path / PLOT_FILE)
        summary = summarise(rows, monitor, mode, path, solution, options, command)
        summary["fixed"] = {name: options[name] for name in settings.get("fixed", ())}
        summary["search_seconds"] = round(searched, 1)  # this invocation's; each trial's own is in the table
        if settings.get("retrain", True) and summary.get("best_trial") is not None:
            started = time.perf_counter()
            summary["retrained"] = retrain_best(solution, options, summary["best_values"], path, monitor)
            summary["retrained"]["seconds"] = round(time.perf_counter() - started, 1)
    except KeyboardInterrupt:  # in a trial or in the best's retraining: the same command resumes both
        print(f"\nInterrupted. Continue with: solutions tune {solution.name} --output {path} --resume",
              file=sys.stderr)
        raise
    Run(path).write_json(SUMMARY_FILE, summary)
    print_summary(summary, monitor, path)
    if summary.get("best_trial") is None:  # every trial failed: not a search that succeeded
        raise UserError(f"no trial of {path} finished ({summary['trials']} tried; each one's error is above); fix "
                        "the cause and start a new search with another --output (its trial budget is spent)")
    return path


def trial_rows(tuner, path: Path) -> list[dict[str, Any]]:
    """One row per trial: id, status, objective, best epoch, who ran it, its time, its process's
    peak memory and the tuner's resident memory after it, then its values."""
    from solutions.tuning.hypermodel import DEFAULTS
    from solutions.tuning.tuners import STATS_PREFIX

    stats: dict[str, dict[str, dict[str, float]]] = {}
    for file in path.glob(f"{STATS_PREFIX}*.json"):
        stats[file.stem[len(STATS_PREFIX):]] = json.loads(file.read_text())
    owners = getattr(tuner.oracle, "trial_tuners", {})
    planned = tuner.hypermodel.default_options() if hasattr(tuner.hypermodel, "default_options") else {}
    rows = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        owner = owners.get(trial_id, "")
        best_step = trial.best_step if trial.score is not None else None
        if best_step is not None:  # a promoted Hyperband trial counts from the epoch it continued at
            best_step += int(trial.hyperparameters.values.get("tuner/initial_epoch", 0))
        seen = stats.get(owner, {}).get(trial_id, {})
        values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        defaults = bool(trial.hyperparameters.values.get(DEFAULTS))
        if defaults:  # what it trained with, as its process reported it (a blank: the model's own default)
            ran = seen.get("ran") or planned  # a remote worker's report stays on its machine
            values.update({k: v for k, v in ran.items() if k in values})
        rows.append({"trial": trial_id, "status": trial.status,
                     "objective": None if trial.score is None else float(trial.score),
                     "best_epoch": None if best_step is None else int(best_step) + 1,
                     "tuner": owner, "defaults": "yes" if defaults else None,
                     **({"epochs": trial.hyperparameters.values["tuner/epochs"]}  # Hyperband: this trial's budget
                        if "tuner/epochs" in trial.hyperparameters.values else {}),
                     **{k: seen.get(k) for k in STAT_COLUMNS}, **values})
    return rows


def write_table(rows: list[dict[str, Any]], path: Path) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, out.getvalue())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def print_table(rows: list[dict[str, Any]], monitor: str) -> None:
    if not rows:
        print("No trials ran.")
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_cell(row.get(k)) for k in keys] for row in rows]
    header = [monitor if k == "objective" else k for k in keys]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def objective_plot(rows: list[dict[str, Any]], monitor: str, mode: str, path: Path) -> Path:
    """Each trial's best validation value in the order they started, and the best so far."""
    from solutions.common.plots import plt, save_figure

    done = [(i, r["objective"]) for i, r in enumerate(rows) if r["objective"] is not None
            and math.isfinite(r["objective"])]
    fig, ax = plt.subplots(figsize=(7, 4))
    if done:
        xs, ys = zip(*done)
        pick = min if mode == "min" else max
        best = [pick(ys[: i + 1]) for i in range(len(ys))]
        ax.scatter([x + 1 for x in xs], ys, label="trial")
        ax.step([x + 1 for x in xs], best, where="post", color="black", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{monitor} (validation, best epoch)")
    ax.set_title("Objective by trial")
    if done:
        ax.legend()
    return save_figure(fig, path)


def _values_command(domain: str, values: dict[str, Any], options: dict[str, Any]) -> str:
    """`solutions train` with the data and the best values (floats in full), when the caller gives
    no formatter that knows every option's default (the API's: solutions.flags.train_command)."""
    parts = ["solutions", "train", domain]
    parts += [f"--data={options['data']}"] if options.get("data") else (
        [f"--dataset={options['dataset']}"] if options.get("dataset") else [])
    parts += [f"--{k.replace('_', '-')}={v!r}" if isinstance(v, float) else f"--{k.replace('_', '-')}={v}"
              for k, v in values.items()]
    return " ".join(parts)


def summarise(rows: list[dict[str, Any]], monitor: str, mode: str, path: Path, solution: Solution,
              options: dict[str, Any], command: CommandFormatter | None = None) -> dict[str, Any]:
    finished = [r for r in rows if r["objective"] is not None and math.isfinite(r["objective"])]
    summary: dict[str, Any] = {"domain": solution.name, "search": str(path), "objective": monitor, "direction": mode,
                               "trials": len(rows), "completed": sum(r["status"] == "COMPLETED" for r in rows),
                               "best_trial": None}
    if not finished:
        return summary
    best = (min if mode == "min" else max)(finished, key=lambda r: r["objective"])
    values = {k: v for k, v in best.items()
              if k not in ("trial", "status", "objective", "best_epoch", "tuner", "defaults", "epochs", *STAT_COLUMNS)}
    summary.update({"best_trial": best["trial"], "best_objective": best["objective"],
                    "best_epoch": best["best_epoch"], "best_values": values,
                    "command": (command or _values_command)(solution.name, values, options)})
    marked = [r for r in rows if r.get("defaults")]  # the first trial, and under Hyperband its continuations
    scored = [r for r in marked if r in finished]
    if scored:  # the options as given: the best of their trials against the best of the search
        defaults = (min if mode == "min" else max)(scored, key=lambda r: r["objective"])
        summary["defaults"] = {"trial": defaults["trial"], "objective": defaults["objective"],
                               "best_epoch": defaults["best_epoch"], "best_is_defaults": bool(best.get("defaults")),
                               "gain": abs(best["objective"] - defaults["objective"]),
                               **({"epochs": defaults["epochs"]} if "epochs" in defaults else {})}
    elif marked:
        summary["defaults"] = {"trial": marked[0]["trial"], "objective": None, "finished": False}
    for key in ("trial_peak_mb", "tuner_rss_mb"):  # by trial, in trial order
        summary[f"{key}_by_trial"] = [r[key] for r in rows if r.get(key) is not None]
    return summary


def retrain_best(solution: Solution, options: dict[str, Any], values: dict[str, Any], path: Path,
                 monitor: str) -> dict[str, Any]:
    """The best values retrained from scratch with the search's own epochs and patience, exported
    and reported like any run (`<search>/best/`); resumes an interrupted retraining."""
    from solutions.common.workflow import train

    final = path / "best"
    if not Run(final).finished:
        print(f"\nRetraining the best configuration into {final}")
        run_options = {**options, **values, "output": str(final), "tuned_by": str(path)}
        resume = (path / f"best{PARTIAL}" / "config.json").exists()
        train(solution, run_options, resume=resume)
    metrics = Run(final).read_json("metrics.json")
    return {"run": str(final), "validation": metrics.get("validation", {}), "best_epoch": metrics.get("best_epoch"),
            "test": metrics["test"]}


def print_summary(summary: dict[str, Any], monitor: str, path: Path) -> None:
    print()
    if summary.get("best_trial") is None:
        print(f"Search {path}: no trial finished")
        return
    print(f"Search {path}: {summary['completed']} of {summary['trials']} trials completed; best trial "
          f"{summary['best_trial']} {monitor} {summary['best_objective']:.4f} at epoch {summary['best_epoch']}")
    print(f"  best values: {summary['command']}")
    defaults = summary.get("defaults")
    budget = f", {defaults['epochs']} epochs" if defaults and defaults.get("epochs") else ""
    if defaults and defaults["objective"] is None:
        print(f"  the defaults (trial {defaults['trial']}) did not finish: no comparison with them")
    elif defaults and defaults["best_is_defaults"]:
        print(f"  no trial beat the defaults (trial {defaults['trial']}{budget}, {monitor} "
              f"{defaults['objective']:.4f}) on the validation split: the best configuration is the defaults")
    elif defaults:
        print(f"  the defaults (trial {defaults['trial']}{budget}): {monitor} {defaults['objective']:.4f}; the best "
              f"trial is {defaults['gain']:.4f} better")
    retrained = summary.get("retrained")
    if retrained:
        val = retrained["validation"].get(monitor)
        test = ", ".join(f"{k} {v:.4f}" for k, v in retrained["test"].items() if isinstance(v, float))
        print(f"  retrained: {retrained['run']} (best epoch {retrained['best_epoch']}, {monitor} "
              f"{'n/a' if val is None else f'{val:.4f}'}; test {test})")
    print(f"  trials table: {path / TABLE_FILE}; plot: {path / PLOT_FILE}")
