"""The kit's training throughput against plain `model.fit` of the same model on the same arrays.

For each case: one kit run (resume state, logs, checkpoints and early stopping on, patience set
so that every epoch runs) and one plain `model.fit` of the model the kit builds for that plan,
compiled the same way, on the training split as in-memory float32 arrays with the validation
split, the same batch size and epochs, first-epoch tracing included, no callbacks. Samples/s are
training samples x epochs / wall seconds of the fit; the ratio is kit / plain, the median over pairs.

The CPU's own speed drifts by tens of percent within minutes on a shared machine (the digits
plain fit gave 285 to 576 samples/s on one day), more than the kit's overhead, so each case runs
`--repeats` pairs in alternating order (plain, kit; kit, plain; ...): a drift during the
benchmark then weighs on both sides alike.

    python -m benchmarks.throughput [--epochs 10] [--repeats 3] [--cases digits pneumoniamnist]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

CASES = {"digits": ("image-classification", {"dataset": "digits"}),
         "pneumoniamnist": ("medical-imaging", {"dataset": "pneumoniamnist"})}


def plain_fit(domain: str, options: dict, epochs: int) -> dict:
    """model.fit of the kit's model for `options` on the arrays, as a user would write it."""
    import numpy as np

    from solutions.api import train_options
    from solutions.common.plan import before_data, freeze, with_data
    from solutions.common.runtime import make_deterministic
    from solutions.common.solution import get_solution
    from solutions.common.training import make_optimizer

    solution = get_solution(domain)
    chosen = train_options(domain, **options, epochs=epochs)
    make_deterministic(chosen["seed"])
    plan = before_data(solution, freeze(chosen))
    solution = solution.for_plan(plan)
    splits = solution.load_splits(plan)
    plan = with_data(plan, splits)
    model = solution.build_model(plan, splits)
    batch = plan["batch_size"]
    steps = -(-len(splits.train) // batch)
    solution.compile(model, make_optimizer(plan["learning_rate"], steps * epochs))
    x, y = solution.model_inputs(splits.train), splits.train.y
    val = (solution.model_inputs(splits.val), splits.val.y)
    extra = solution.fit_options(splits, plan)  # e.g. class weights: the same loss as the kit's
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=val, verbose=0, **extra)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "samples_per_second": round(epochs * len(x) / seconds, 1),
            "train_samples": int(len(x)), "input_shape": list(np.shape(x)[1:])}


def kit_fit(domain: str, options: dict, epochs: int, out: Path) -> dict:
    import solutions

    run = solutions.train(domain, **options, epochs=epochs, patience=epochs + 1, no_export=True, output=str(out))
    m = run.metrics
    return {"seconds": m["train_seconds"], "samples_per_second": m["train_samples_per_second"],
            "epochs_run": m["epochs_run"]}


def alternating(repeats: int) -> list[str]:
    """plain, kit, kit, plain, plain, kit, ...: each pair in the other order from the last."""
    pairs = [("plain", "kit") if i % 2 == 0 else ("kit", "plain") for i in range(repeats)]
    return [side for pair in pairs for side in pair]


def summarise(name: str, epochs: int, runs: dict[str, list[dict]]) -> dict:
    """One case's row: every run, each side's median samples/s, and the median of the pairs'
    kit / plain ratios (pair i: the i-th kit run and the i-th plain run, next to each other in time)."""
    median = {side: statistics.median(r["samples_per_second"] for r in runs[side]) for side in runs}
    pairs = [k["samples_per_second"] / p["samples_per_second"] for k, p in zip(runs["kit"], runs["plain"])]
    return {"case": name, "epochs": epochs, "repeats": len(runs["kit"]), "kit": runs["kit"], "plain": runs["plain"],
            "kit_median": median["kit"], "plain_median": median["plain"],
            "pair_ratios": [round(r, 3) for r in pairs], "ratio": round(statistics.median(pairs), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="kit/plain pairs per case, in alternating order")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be at least 1")
    import keras

    rows = []
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        for name in args.cases:
            domain, options = CASES[name]
            runs: dict[str, list[dict]] = {"plain": [], "kit": []}
            for i, side in enumerate(alternating(args.repeats)):
                keras.backend.clear_session()  # each fit starts from a clean graph, as in its own process
                if side == "plain":
                    result = plain_fit(domain, options, args.epochs)
                else:
                    result = kit_fit(domain, options, args.epochs, Path(tmp) / f"{name}-{i}")
                runs[side].append(result)
                print(json.dumps({"case": name, "side": side, **result}), flush=True)
            rows.append(summarise(name, args.epochs, runs))
            print(json.dumps(rows[-1]))
    print("\n| case | epochs | repeats | kit samples/s (median; each) | plain fit samples/s (median; each) | "
          "kit / plain (median; each pair) |\n|---|---|---|---|---|---|")
    for r in rows:
        each = {side: " ".join(f"{x['samples_per_second']:.0f}" for x in r[side]) for side in ("kit", "plain")}
        print(f"| {r['case']} | {r['epochs']} | {r['repeats']} | {r['kit_median']:.0f} ({each['kit']}) | "
              f"{r['plain_median']:.0f} ({each['plain']}) | {r['ratio']:.2f} "
              f"({' '.join(f'{x:.2f}' for x in r['pair_ratios'])}) |")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
