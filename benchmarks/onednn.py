"""Training speed of the native-crash workaround (issue 14) against the two blunt alternatives.

oneDNN's 1x1 strided backward-weights kernel overruns its workspace when the input has fewer
channels than its block (uxlfoundation/oneDNN#6035). The kit avoids that kernel in the model
(`solutions.common.vision_models.projection_shortcut`); the alternatives are process-wide switches:
`ONEDNN_MAX_CPU_ISA=AVX2` (still crashes below 8 channels) and `TF_ENABLE_ONEDNN_OPTS=0`.
Each row is one `solutions train` in a fresh process; samples/s is the kit's own figure (epochs
times training samples over the training seconds, first-epoch tracing included).

    python -m benchmarks.onednn [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "kit (oneDNN, all ISAs)": {},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "TF_ENABLE_ONEDNN_OPTS=0": {"TF_ENABLE_ONEDNN_OPTS": "0"},
}
# the strided 1x1 convolution the kit replaced, for the affected small widths (crashes on AVX-512)
OLD_GRAPH = ("import sys, solutions.common.vision_models as v; v.UNSAFE_STRIDED_1X1_CHANNELS = 0; "
             "from solutions.cli import main; sys.exit(main(sys.argv[1:]))")


def train(args: list[str], env: dict[str, str], old_graph: bool = False) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-c", OLD_GRAPH] if old_graph else [sys.executable, "-m", "solutions"]
        result = subprocess.run([*command, "train", *args, "--no-export", "--output", f"{tmp}/run"],
                                capture_output=True, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **env})
        if result.returncode != 0:
            return f"failed (exit {result.returncode})"
        metrics = json.loads(Path(f"{tmp}/run/metrics.json").read_text())
        return f"{metrics['train_samples_per_second']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    epochs = str(parser.parse_args().epochs)
    cases = {
        "digits (default, width 32)": ["image-classification", "--epochs", epochs],
        "pneumoniamnist (default, width 32)": ["medical-imaging", "--epochs", epochs],
        "digits --width 8": ["image-classification", "--epochs", epochs, "--width", "8"],
    }
    print(f"| case | {' | '.join(SETTINGS)} | width 8, old strided graph, AVX2 |")
    print("|---|" + "---|" * (len(SETTINGS) + 1))
    for name, args in cases.items():
        cells = [train(args, env) for env in SETTINGS.values()]
        old = train(args, SETTINGS["ONEDNN_MAX_CPU_ISA=AVX2"], old_graph=True) if "--width" in args else ""
        print(f"| {name} | {' | '.join(cells)} | {old} |", flush=True)


if __name__ == "__main__":
    main()
