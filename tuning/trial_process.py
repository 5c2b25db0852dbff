"""Each trial in its own process, so that a search's memory does not grow trial by trial.

TensorFlow keeps about 50 MiB of every `model.fit` that neither `clear_session`, `gc` nor
`malloc_trim` gives back (keras-team/keras#17458), so a search run in one process grew from 929 MiB
after trial 2 to 1437 MiB after trial 10 on digits. Here a forkserver that has already imported
TensorFlow (without starting its runtime) forks one child per trial: about a second to start instead
of seven for a fresh interpreter. The child builds, trains and checkpoints the trial's model, writes
its per-epoch history, and takes its memory with it when it exits.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from solutions.common.files import write_text_atomic
from solutions.common.runtime import import_tensorflow

import_tensorflow()  # at import: the forkserver preloads this module, so every child starts warm

RESULT_FILE = "trial_result.json"


class TrialProcessError(RuntimeError):
    """A trial's process ended without a result (an exception, a crash, or a kill)."""


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():  # not Linux/macOS: a fresh interpreter
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextlib.contextmanager
def _caller_script_hidden():
    """Start a trial without the caller's `__main__`: multiprocessing would run the caller's script
    again in the child (as `__mp_main__`), and a script that calls `solutions.tune(...)` without an
    `if __name__ == "__main__":` guard would start a search inside every trial, which then failed.
    The child's work lives in this module; nothing of the caller's is needed there."""
    main = sys.modules.get("__main__")
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if main and name in main.__dict__}
    try:
        for name in saved:
            if name == "__file__":
                del main.__file__
            else:
                main.__spec__ = None
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def resident_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS), or its peak (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:  # no procfs
        pass
    return float("nan")


def run_trial_process(spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Train one trial in a child process and return its result: `history` (metric -> one value
    per epoch), `epoch`, `seconds` and `peak_rss_mb` (the child's peak resident memory).
    `spec`: domain, options, hyperparameters (KerasTuner config), epochs, initial_epoch,
    initial_weights (Hyperband's promoted trial), checkpoint, objective (name, direction)."""
    result_path = directory / RESULT_FILE
    result_path.unlink(missing_ok=True)  # an interrupted earlier run of this trial left nothing to trust
    context = _context()
    lifeline, held = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=({**spec, "result": str(result_path)}, lifeline),
                              name=f"trial-{directory.name}")
    with _caller_script_hidden():
        process.start()
    lifeline.close()
    try:
        process.join()
    except BaseException:  # Ctrl-C or the tuner's own exit: the trial must not outlive it
        process.terminate()
        process.join(10)
        raise
    finally:
        held.close()
    if process.exitcode != 0 or not result_path.exists():
        code = process.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
        hint = " (out of memory?)" if code == -9 else "; its traceback is above"
        raise TrialProcessError(f"the process of {directory.name} {how}{hint}")
    return json.loads(result_path.read_text())


def _exit_with_tuner(lifeline: Connection) -> None:
    """End this child when the tuner process that asked for it is gone (killed -9, for one): the
    tuner holds the only writing end of `lifeline`, which reads as closed once it has exited.
    (The process's parent is the forkserver, which outlives a running trial, and
    `multiprocessing.parent_process()` cannot tell under forkserver.)"""

    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="tuner-watch", daemon=True).start()


def _child(spec: dict[str, Any], lifeline: Connection) -> None:
    _exit_with_tuner(lifeline)
    try:
        result = train_trial(spec)
    except KeyboardInterrupt:
        os._exit(130)  # the tuner reports the interruption
    write_text_atomic(spec["result"], json.dumps(result))


def train_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """Build and fit one trial with the domain's own hooks (the body of the child process)."""
    import keras_tuner
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    from solutions.common.runtime import make_deterministic
    from solutions.common.solution import get_solution
    from solutions.tuning.hypermodel import SolutionHyperModel
    from solutions.tuning.spaces import space_for

    start = time.perf_counter()
    solution = get_solution(spec["domain"])
    make_deterministic(spec["options"]["seed"])  # every trial starts from the same seed: fairer comparisons
    hp = keras_tuner.HyperParameters.from_config(spec["hyperparameters"])
    hypermodel = SolutionHyperModel(solution, spec["options"], space_for(solution.name))
    model = hypermodel.build(hp)
    if spec.get("initial_weights"):
        model.load_weights(spec["initial_weights"])
    name, direction = spec["objective"]
    checkpoint = SaveBestEpoch(objective=keras_tuner.Objective(name, direction), filepath=spec["checkpoint"])
    history = hypermodel.fit(hp, model, epochs=spec["epochs"], initial_epoch=spec.get("initial_epoch", 0),
                             callbacks=[checkpoint])
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "epoch": [int(e) for e in history.epoch], "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mb": resident_mb("VmHWM"), "ran": getattr(hypermodel, "ran", {})}
