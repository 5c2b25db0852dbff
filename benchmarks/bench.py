"""`make bench`: the default training of every registered domain on its default dataset, one table.

Each run lands in saved_models/bench/<domain>-<time>/; the table is printed and written to
saved_models/bench/results.md. A domain registered later appears here with no change to this file.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from solutions.cli import main as cli
from solutions.common.solution import all_solutions

COLUMNS = ["domain", "dataset", "metric", "value", "train s", "train samples/s", "pipeline samples/s",
           "float32 KiB", "quantized", "quantized KiB", "quantized/float32", "quantized delta",
           "float32 max abs diff", "quantized ms"]


def bench_row(domain: str, headline: str, run: Path) -> list:
    m = json.loads((run / "metrics.json").read_text())
    export = m.get("export", {})
    f32 = export.get("float32", {})
    # the smallest quantized file that was built (int8 unless a quantizer limitation skipped it)
    built = [(e["bytes"], name, e) for name, e in export.items() if name in ("int8", "dynamic", "float16") and "bytes" in e]
    _, kind, i8 = min(built, key=lambda t: t[0]) if built else (0, "", {})
    value = m["test"][headline]
    return [
        domain, m["dataset"], headline, f"{value:.4f}", f"{m['train_seconds']:.0f}",
        f"{m['train_samples_per_second']:.0f}", f"{m.get('pipeline_samples_per_second', 0):.0f}",
        f"{f32.get('bytes', 0) / 1024:.0f}", kind, f"{i8.get('bytes', 0) / 1024:.0f}",
        f"{i8['bytes'] / f32['bytes']:.2f}" if f32 and i8 else "",
        f"{i8['test'][headline] - value:+.4f}" if i8 else "",
        f"{f32.get('max_abs_diff', float('nan')):.1e}", f"{i8.get('latency_ms', float('nan')):.3f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", nargs="*", help="only these domains (default: all registered)")
    parser.add_argument("--root", default="saved_models/bench")
    args = parser.parse_args(argv)
    rows = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for solution in all_solutions():
        if args.domains and solution.name not in args.domains:
            continue
        run = Path(args.root) / f"{solution.name}-{stamp}"
        if cli(["train", solution.name, "--output", str(run)]) != 0:
            return 1
        options = json.loads((run / "config.json").read_text())["options"]
        rows.append(bench_row(solution.name, solution.for_plan(options).headline(options), run))
    table = "\n".join(["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
                      + ["| " + " | ".join(map(str, r)) + " |" for r in rows])
    text = f"# Benchmark ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, " \
           f"{__import__('os').cpu_count()} cores)\n\n{table}\n"
    out = Path(args.root) / "results.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"Written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
