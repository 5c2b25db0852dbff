"""report.md: what a person reads first. Metrics, baselines, export parity, plots, how to use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from solutions.common.files import write_text_atomic
from solutions.common.rundir import Run, final_path
from solutions.common.variants import TFLITE_FILES


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(run: Run, *, title: str, metrics: dict, config: dict, plots: list[str], usage: str,
                 notes: list[str], verdict: list[str] = ()) -> Path:
    test = metrics["test"]
    parts = [
        f"# {title}",
        "",
        f"Dataset `{metrics['dataset']}` ({config['source'].get('split', '')}); sizes: "
        + ", ".join(f"{k} {v}" for k, v in metrics["sizes"].items())
        + f". Trained {metrics.get('epochs_run', '?')} epochs in {metrics['train_seconds']:.1f} s "
        f"({metrics['train_samples_per_second']:.0f} samples/s; best epoch {metrics.get('best_epoch')}).",
        "",
        "## Test metrics",
        "",
        _table(["metric", "model", *metrics.get("baselines", {})],
               [[m, v, *(b.get(m, "") for b in metrics.get("baselines", {}).values())] for m, v in test.items()]),
    ]
    if verdict:
        parts += ["", *verdict]
    cv = metrics.get("cross_validation")
    if cv:
        bases = cv.get("baselines_mean", {})
        parts += ["", f"## {cv['folds']}-fold {cv.get('scheme', 'cross-validation')} (test fold of each)", "",
                  cv.get("note", ""), "",
                  _table(["metric", "mean", "std", "min", "max", *(f"{b} (mean)" for b in bases)],
                         [[m, s["mean"], s["std"], s["min"], s["max"], *(b.get(m, "") for b in bases.values())]
                          for m, s in cv["summary"].items()])]
    checks = metrics.get("checks")
    if checks:
        parts += ["", "## Checks", "", *(f"- {k}: {v}" for k, v in checks.items())]
    if metrics.get("export_failed"):
        parts += ["", "## Export failed", "", f"{metrics['export_failed']}. Retry with `solutions export`."]
    export = metrics.get("export", {})
    skipped = {name: e["skipped"] for name, e in export.items() if "skipped" in e}
    export = {name: e for name, e in export.items() if "skipped" not in e}
    if export:
        metric_names = list(test)
        parts += [
            "",
            "## Exported models (checked against Keras on the test split)",
            "",
            _table(
                ["variant", "bytes", "max abs diff", "agreement", "latency ms (1 sample, 1 thread)", *metric_names],
                [[name, e["bytes"], e["max_abs_diff"], e["agreement"], e["latency_ms"],
                  *(e["test"].get(m, "") for m in metric_names)] for name, e in export.items()],
            ),
        ]
        parts += [f"- {name} not built: {why}" for name, why in skipped.items()]
        for name, e in export.items():
            if e.get("keras_test"):
                scores = ", ".join(f"{m} {_fmt(v)}" for m, v in e["keras_test"].items())
                parts.append(f"- {name} is a model of its own (`{TFLITE_FILES.get(name, name)}`, Keras twin "
                             f"`model_{name}.keras`): its row compares the file with that twin; the twin scores "
                             f"{scores} on the same test split.")
        carried = {name: e["metadata"] for name, e in export.items() if e.get("metadata")}
        if carried:
            parts += ["", "### What each .tflite carries (its metadata, as read back from the file)", "",
                      *(f"- `{TFLITE_FILES.get(name, name)}`: {text}" for name, text in carried.items())]
    if "serving" in export:
        parts += ["", *_serving_section(run.path, export["serving"])]
    repairs = {k: v for k, v in config["source"].get("repairs", {}).items() if v}
    if "repairs" in config["source"]:
        notes = [*notes, "Data repairs: " + (", ".join(f"{v} {k.replace('_', ' ')}" for k, v in repairs.items())
                                            if repairs else "none needed") + "."]
    if notes:
        parts += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    if plots:
        parts += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    parts += ["", "## Use the model", "", usage.strip(), ""]
    path = run / "report.md"
    write_text_atomic(path, "\n".join(parts))
    return path


def _serving_section(run_path: Path, entry: dict) -> list[str]:
    """How to serve the run: its TF Serving directory, signatures and the commands (the run's
    final path: the report is written while the run is still `<run>.partial`)."""
    run_path = final_path(Path(run_path).resolve())
    name, base = entry["name"], run_path / Path(entry["path"]).parent
    lines = ["### Serving (TensorFlow Serving REST API)", "",
             f"`{Path(entry['path']).parent}/` is a TF Serving model base directory (model `{name}`, version "
             f"{entry['version']} in `{Path(entry['path']).name}/`); "
             "the serving row above sends the test split to its `serving_default` as JSON rows. Signatures:", ""]
    for signature, io in entry.get("signatures", {}).items():
        inputs = ", ".join(f"{k} {v}" for k, v in io["inputs"].items())
        lines.append(f"- `{signature}`: {inputs} -> {', '.join(io['outputs'])}")
    lines += ["", "```",
              f"solutions serve {run_path}                 # http://127.0.0.1:8501/v1/models/{name}",
              f"tensorflow_model_server --rest_api_port=8501 --model_name={name} --model_base_path={base}",
              f"docker run -p 8501:8501 -v {base}:/models/{name} -e MODEL_NAME={name} tensorflow/serving",
              f"curl -X POST http://127.0.0.1:8501/v1/models/{name}:predict -d '{{\"instances\": [...]}}'",
              "```"]
    return lines
