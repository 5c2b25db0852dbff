"""Run directories: written under `<run>.partial`, renamed to `<run>` only when complete.

A finished run is exactly a directory without the `.partial` suffix that holds `metrics.json`;
`evaluate`, `predict` and `export` refuse anything else, so an interrupted run never passes for a
finished one. `--resume` picks the partial directory up again.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from solutions.common.errors import UserError

PARTIAL = ".partial"
DEFAULT_ROOT = Path("saved_models")


@dataclass
class Run:
    path: Path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        from solutions.common.files import write_text_atomic

        return write_text_atomic(self.path / name, json.dumps(data, indent=2, sort_keys=False,
                                                              default=_json_default) + "\n")

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"{self.path / name} is damaged (not valid JSON); retrain, or restore it from a "
                            "copy") from None

    @property
    def config(self) -> dict[str, Any]:
        return self.read_json("config.json")

    @property
    def finished(self) -> bool:
        return not self.path.name.endswith(PARTIAL) and (self.path / "metrics.json").exists()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def new_run_path(domain: str, dataset: str, output: str | None) -> Path:
    if output:
        return Path(output).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset)
    return DEFAULT_ROOT / domain / f"{stamp}-{safe}"


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL)


def final_path(path: str | Path) -> Path:
    """Where a run will be once finished: what files written during training must name."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(PARTIAL))


def check_free(final: Path) -> None:
    """Refuse to clobber a finished or interrupted run (checked before any slow work starts)."""
    if final.exists():
        raise UserError(f"{final} already exists; choose another --output")
    if partial_path(final).exists():
        raise UserError(f"an unfinished run is at {partial_path(final)} (interrupted, or still training in "
                        "another process); continue it with --resume, or delete it")
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot create {final}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UserError(f"cannot create {final}: {parent} is not writable "
                                "(a read-only file system, or no permission)")
            break


def start_run(final: Path) -> Run:
    """Create `<final>.partial` for a new run."""
    check_free(final)
    partial = partial_path(final)
    try:
        partial.mkdir(parents=True)
    except FileExistsError:
        raise UserError(f"{partial} appeared meanwhile: another process is starting the same run") from None
    except NotADirectoryError:
        raise UserError(f"cannot create {partial}: a parent of it is a file, not a directory") from None
    return Run(partial)


def resume_run(domain: str, output: str | None) -> tuple[Run, Path]:
    """The partial run to continue (the newest of the domain's, unless --output names one)."""
    if output:
        final = Path(output).expanduser()
        if final.exists() and Run(final).finished:
            raise UserError(f"{final} is already a finished run; nothing to resume")
        partial = partial_path(final)
        if not partial.exists():
            raise UserError(f"no interrupted run at {partial} to resume")
    else:
        candidates = sorted((DEFAULT_ROOT / domain).glob(f"*{PARTIAL}"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UserError(f"no interrupted {domain} run under {DEFAULT_ROOT / domain} to resume")
        partial = candidates[-1]
        final = partial.with_name(partial.name[: -len(PARTIAL)])
    if not (partial / "config.json").exists():
        raise UserError(f"{partial} has no config.json; it cannot be resumed (delete it and start again)")
    return Run(partial), final


def finish_run(run: Run, final: Path) -> Run:
    """Rename the partial directory into place: the single step that marks a run finished."""
    if final.exists():
        raise UserError(f"{final} appeared while training; the finished run stays at {run.path}")
    run.path.rename(final)
    return Run(final)


def open_finished(path: str | Path) -> Run:
    """A finished run directory, or a clear error that says what is wrong with it."""
    path = Path(path).expanduser()
    if path.name.endswith(PARTIAL):
        raise UserError(f"{path} is an unfinished run; resume it with `solutions train <domain> --resume`")
    if not path.exists():
        if partial_path(path).exists():
            raise UserError(f"{path} did not finish (it is at {partial_path(path)}); resume it with --resume")
        raise UserError(f"run directory {path} does not exist")
    run = Run(path)
    _repair_interrupted_export(path)
    for required in ("config.json", "metrics.json", "model.keras"):
        if not (path / required).exists():
            raise UserError(f"{path} is not a finished run directory (no {required})")
    config = run.config
    missing = [k for k in ("domain", "options", "source") if not isinstance(config, dict) or k not in config]
    if missing:
        raise UserError(f"{path} is not a solutions run: its config.json lacks {', '.join(missing)}")
    return run


def _repair_interrupted_export(path: Path) -> None:
    """Put back what a re-export killed between its two renames left, but only while no other
    process holds the run (a running export's own temporary directories are not leftovers)."""
    from solutions.common.files import restore_directories
    from solutions.common.locks import DirectoryLock

    # the run's own directories, and each TF Serving model base directory (serving/<name>/<version>)
    parents = [path, *(p for p in (path / "serving").glob("*") if p.is_dir())]
    if not any(any(p.glob(".*.old-*")) or any(p.glob(".*.new-*")) for p in parents):
        return
    lock = DirectoryLock(path, "repair")
    try:
        lock.acquire()
    except (UserError, OSError):
        return  # in use, or not writable: leave it to the process that holds it
    try:
        for parent in parents:
            restore_directories(parent)
    finally:
        lock.release()


def kit_version() -> str:
    """This kit's installed version ("unknown" in a checkout used without installing)."""
    try:
        return metadata.version("keras-solutions-kit")
    except metadata.PackageNotFoundError:
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("keras-solutions-kit", "tensorflow", "keras", "numpy", "scikit-learn", "ai-edge-litert", "keras-tuner"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return versions
