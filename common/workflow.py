"""The one train -> evaluate -> export -> report flow every domain runs through."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from solutions.common.files import scratch_directory, write_text_atomic
from solutions.common import export as ex
from solutions.common.catalogue import source_difference, split_difference
from solutions.common.checkpoints import save_model_atomic
from solutions.common.files import write_bytes_atomic
from solutions.common.data import SEEN_FILE, Split, Splits, without_seen
from solutions.common.distribute import make_strategy, scope as distribute_scope, shard_by_data, synchronize_batch_norm
from solutions.common.errors import UserError
from solutions.common.pipeline import fit_pipelines, measure_throughput
from solutions.common.plan import before_data, freeze, plain, with_data, with_model
from solutions.common.prediction import predict_keras
from solutions.common.plots import cv_folds_plot, training_curves
from solutions.common.report import write_report
from solutions.common.locks import LOCK_FILE, DirectoryLock
from solutions.common.rundir import Run, check_free, final_path, finish_run, new_run_path, open_finished, package_versions, resume_run, start_run
from solutions.common.runtime import make_deterministic
from solutions.common.solution import Solution, get_solution
from solutions.common.training import best_epoch, best_validation, fit_phases

import keras  # noqa: E402  (solutions.common.export imported TensorFlow quietly first)


def train(
    solution: Solution,
    options: dict[str, Any],
    *,
    resume: bool = False,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    source_checked: bool = False,
) -> Run:
    """Train, evaluate, export and report; return the finished run directory. The run directory
    is locked for the whole call: a second process on it stops with one line. `source_checked`:
    the caller already ran `check_data_source` (the API does, before TensorFlow loads)."""
    lock = DirectoryLock(Path(), "training")
    try:
        return _train(solution, options, lock, resume=resume, extra_callbacks=extra_callbacks,
                      source_checked=source_checked)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM from the CLI: in training, evaluation or export alike
        if lock.fd is not None and not options.get("tuned_by"):  # a run directory exists (a search says its own)
            print(f"\nInterrupted. Continue with: solutions train {solution.name} --output "
                  f"{final_path(lock.path.parent)} --resume", file=sys.stderr)
        raise
    finally:
        lock.release()


def _train(solution: Solution, options: dict[str, Any], lock: DirectoryLock, *, resume: bool,
           extra_callbacks: Sequence[keras.callbacks.Callback], source_checked: bool) -> Run:
    if resume:
        run, final = resume_run(solution.name, options.get("output"))
        lock.path = run / LOCK_FILE
        lock.acquire()
        saved = run.config
        options = {**solution.with_legacy_options(saved["options"]), "output": str(final)}
        print(f"Resuming {run.path} (options from its config.json)")
    else:
        if not source_checked:
            solution.check_data_source(freeze(options))
        label = options.get("dataset") or Path(options["data"]).name
        final = new_run_path(solution.name, label, options.get("output"))
        check_free(final)
        saved = None

    strategy = make_strategy(options.get("distribute"))  # before TensorFlow runs any op (multi-worker)
    make_deterministic(options["seed"])
    request = freeze(options)  # what was asked: config.json "options", replayed by --config
    plan = before_data(solution, request)
    solution = solution.for_plan(plan)  # a domain with several tasks: the task's own object, chosen once
    splits = solution.load_splits(plan)
    options = plan = with_data(plan, splits)  # every later hook reads the frozen plan
    if saved is not None and (saved["source"].get("fingerprint") != splits.source.get("fingerprint")
                              or source_difference(saved["source"], splits.source)):
        raise UserError(f"the data changed since {run.path} started "
                        f"({source_difference(saved['source'], splits.source) or 'its files differ'}); start a new run")
    read_otherwise = saved and split_difference(saved, splits.sizes(), splits.class_names, splits.source.get("repairs"))
    if read_otherwise:
        raise UserError(f"{run.path} cannot resume on the split it started: {read_otherwise} (this version of the kit "
                        "reads them otherwise: it drops repeated rows, merges label spellings, reads more date "
                        "formats); start a new run")
    unit = splits.source.get("skipped_unit", "file(s)")
    for reason, count in splits.source.get("skipped", {}).items():
        if count:
            print(f"Skipped {count} {unit}: {reason.replace('_', ' ')}")
    for repair, count in splits.source.get("repairs", {}).items():
        if count:
            print(f"Data repair: {count} {repair.replace('_', ' ')}")
    print(f"Data: {splits.source.get('name')} - " + ", ".join(f"{k} {v}" for k, v in splits.sizes().items()))
    for note in splits.source.get("notes", []):  # what the data decided (e.g. a rating scale read from it)
        print(note)
    with distribute_scope(strategy):  # variables made here are replicated
        model = solution.build_model(plan, splits)
    options = plan = with_model(plan, model)
    if strategy is not None:
        synchronize_batch_norm(model, True)
    config = {
        "domain": solution.name,
        "options": plain(request),
        "plan": plain(plan),
        "seed": options["seed"],
        "dataset": splits.source.get("name"),
        "source": splits.source,
        "sizes": splits.sizes(),
        "class_names": splits.class_names,
        "versions": package_versions(),
    }
    if saved is None:  # the run directory appears only once data and model are known to work
        run = start_run(final)
        lock.path = run / LOCK_FILE
        lock.acquire()
        run.write_json("config.json", config)
    keys = solution.seen_keys(splits)
    if keys is not None and not (run / SEEN_FILE).exists():
        run.write_json(SEEN_FILE, {"hash": "blake2b-64 of each training and validation example's input",
                                   "keys": keys})

    clock = TrainingClock(run / "checkpoints" / "timing.json")
    try:
        with distribute_scope(strategy):  # the optimizer's variables too
            train_ds, rows = _fit(solution, model, splits, options, run, [*extra_callbacks, clock],
                                  distributed=bool(strategy))
    finally:
        train_seconds = clock.save()
    pipeline_rate = measure_throughput(train_ds)  # the input pipeline alone, augmentation included
    if strategy is not None:
        synchronize_batch_norm(model, False)

    model, fitted = solution.finalize_model(model, splits, options)
    save_model_atomic(model, run / "model.keras")
    solution.write_artifacts(run, splits, model, fitted)
    y_score = predict_keras(model, solution.model_inputs(splits.test))
    monitor, mode = solution.monitoring(options)
    metrics: dict[str, Any] = {
        "domain": solution.name,
        "dataset": splits.source.get("name"),
        "sizes": splits.sizes(),
        "test": solution.test_metrics(splits.test.y, y_score, fitted),
        "baselines": solution.baselines(splits),
        "train_seconds": round(train_seconds, 2),
        "train_samples_per_second": round(len(rows) * len(splits.train) / max(train_seconds, 1e-9), 1),
        "pipeline_samples_per_second": round(pipeline_rate, 1),
        "epochs_run": len(rows),
        "best_epoch": best_epoch(rows, monitor, mode),
        "monitor": monitor,
        "validation": best_validation(rows, monitor, mode),
    }
    metrics.update(solution.test_extras(splits, y_score, fitted))
    if solution.folds(options):
        metrics["cross_validation"] = cross_validate(solution, request, run, metrics["test"], metrics["baselines"])
    # A file that fails its check (a converter bug) must not cost the trained model: the run is
    # finished without it, the reason recorded, and the error raised once the run is in place, so
    # the command still fails and `solutions export` can be retried (`--resume` would repeat it).
    export_failure: ex.ExportError | None = None
    try:
        checks = solution.run_checks(run, splits, model, options)
        if checks:
            metrics["checks"] = checks
        if options.get("no_export"):
            metrics["export"] = {}
        else:
            variants = ex.tflite_variants(options.get("quantize", "all"))
            metrics["export"] = export_run(solution, run, model, splits, fitted, options, variants=variants)
    except ex.ExportError as exc:
        export_failure = exc
        metrics.setdefault("export", {})
        metrics["export_failed"] = str(exc)
    head = solution.headline(options)
    plots = [training_curves(rows, run / "training_curves.png").name] if rows else []
    if "cross_validation" in metrics:
        plots.append(cv_folds_plot(metrics["cross_validation"], head, run / "cv_folds.png").name)
    plots += solution.plots(run, splits, y_score, model, fitted)
    verdict = solution.verdict(metrics, options)
    text = solution.report_text(splits, final)
    write_report(run, title=text.title, metrics=metrics, config=config, plots=plots, usage=text.usage,
                 notes=text.notes, verdict=verdict)
    run.write_json("metrics.json", metrics)
    run = finish_run(run, final)
    print_summary(solution, run, metrics, head, verdict)
    if export_failure is not None:
        raise ex.ExportError(f"the run finished at {run.path}, its export did not: {export_failure} "
                             f"(retry with: solutions export {run.path})")
    return run


class TrainingClock(keras.callbacks.Callback):
    """Training seconds across interruptions, saved at every epoch's end as well as at the end: a
    kill -9 or SIGTERM skips `finally`, and the resumed run's time (and samples/s) once left out
    everything before it."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.spent = json.loads(path.read_text())["seconds"] if path.exists() else 0.0
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return self.spent + time.perf_counter() - self.start

    def save(self) -> float:
        seconds = self.seconds()
        self.path.parent.mkdir(exist_ok=True)
        write_text_atomic(self.path, json.dumps({"seconds": seconds}))
        return seconds

    def on_epoch_end(self, epoch, logs=None):
        self.save()


def _fit(solution: Solution, model: keras.Model, splits: Splits, options: dict[str, Any], run: Run,
         extra_callbacks: Sequence[keras.callbacks.Callback] = (), *, distributed: bool = False
         ) -> tuple[Any, list[dict]]:
    """The domain's pipelines and phases through the shared resumable training loop."""
    train_ds, val_ds = fit_pipelines(solution.training_datasets(splits, options))
    if distributed:
        train_ds, val_ds = shard_by_data(train_ds), shard_by_data(val_ds)
    steps = solution.steps_per_epoch(splits, options)
    monitor, mode = solution.monitoring(options)
    rows = fit_phases(
        model, solution.compile, train_ds, val_ds, solution.phases(model, options),
        run=run, monitor=monitor, mode=mode, patience=options["patience"],
        steps_per_epoch=steps, extra_callbacks=extra_callbacks,
        metric_callbacks=solution.epoch_callbacks(splits, options),
        fit_kwargs=solution.fit_options(splits, options),
    )
    return train_ds, rows


def cross_validate(solution: Solution, options: dict[str, Any], run: Run, fold1: dict[str, float],
                   baselines1: dict[str, dict[str, float]]) -> dict[str, Any]:
    """`--cv K`: folds 2..K trained and scored like the run's own model (fold 1), then summarised.

    Each fold fits its own vocabulary/statistics on its own training part and stops early on a
    validation part carved from it. Finished folds are kept under cv/foldNN/, so --resume
    continues with the next one.
    """
    folds = int(solution.folds(options))
    per_fold = [{"fold": 1, **fold1, "baselines": baselines1}]
    for fold in range(2, folds + 1):
        sub = Run(run / "cv" / f"fold{fold:02d}")
        if (sub / "result.json").exists():
            per_fold.append(sub.read_json("result.json"))
            continue
        sub.path.mkdir(parents=True, exist_ok=True)
        print(f"\nCross-validation fold {fold}/{folds}")
        make_deterministic(options["seed"])
        fold_options = before_data(solution, {**options, "fold": fold})  # each fold resolves from its own data
        splits = solution.load_splits(fold_options)
        fold_options = with_data(fold_options, splits)
        model = solution.build_model(fold_options, splits)
        fold_options = with_model(fold_options, model)
        _, rows = _fit(solution, model, splits, fold_options, sub)
        model, fitted = solution.finalize_model(model, splits, fold_options)
        for name, value in fitted.items():  # the fold's calibration / interval / mixing, for the user
            sub.write_json(f"{name}.json", value)
        y_score = predict_keras(model, solution.model_inputs(splits.test))
        result = {"fold": fold, **solution.test_metrics(splits.test.y, y_score, fitted), "epochs": len(rows),
                  "baselines": solution.baselines(splits)}
        print(f"Fold {fold}: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float)))
        sub.write_json("result.json", result)
        per_fold.append(result)
        keras.backend.clear_session()  # the next fold's model starts from a clean graph
    names = [k for k, v in fold1.items() if isinstance(v, (int, float)) and v is not None]
    summary = {}
    for name in names:
        values = np.array([r[name] for r in per_fold if r.get(name) is not None], dtype=float)
        summary[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                         "min": float(values.min()), "max": float(values.max())}
    baselines = {}  # the mean over folds of each baseline's metrics, scored on the same test folds
    for base in per_fold[0].get("baselines", {}):
        scores = [r["baselines"].get(base, {}) for r in per_fold]
        baselines[base] = {m: float(np.mean([s[m] for s in scores])) for m in names
                           if all(isinstance(s.get(m), (int, float)) for s in scores)}
    return {"folds": folds, **solution.resampling(options), "summary": summary, "baselines_mean": baselines,
            "per_fold": per_fold}


def export_run(
    solution: Solution,
    run: Run,
    model: keras.Model,
    splits: Splits,
    fitted: dict[str, Any],
    options: Any,
    *,
    saved_model: bool = True,
    serving: bool = True,
    variants: Sequence[str] = ex.TFLITE_VARIANTS,
) -> dict[str, dict]:
    """Write the SavedModel, the TF Serving directory, the TFLite variants and the domain's edge
    variants, each .tflite with its metadata, and score each against its Keras model on the test
    split (the serving one on the test split as JSON rows a client sends)."""
    x_test = solution.model_inputs(splits.test)
    served = solution.serving_inputs(splits.test)
    y_true = splits.test.y
    reference = predict_keras(model, x_test)
    results: dict[str, dict] = {}
    head = solution.headline(options)
    keras_head = solution.test_metrics(y_true, reference, fitted).get(head)

    def entry(output: np.ndarray, size: int, latency: float, against: np.ndarray = reference,
              exact: str | None = None, quantized: str | None = None, keras_value: float | None = None,
              threshold: float | None = None) -> dict:
        """`exact` names a float export that must match its Keras model (`check_float_parity`),
        `quantized` one whose headline must stay near the Keras model's (`check_quantized_score`).
        `threshold`: an edge file's folded decision (`edge.decision_scores`); its outputs are compared
        as they are, and scored as the probabilities they stand for."""
        if exact:
            ex.check_float_parity(exact, output, against)
        probabilities, keras_probabilities = output, against
        if threshold is not None:
            from solutions.common.edge import probabilities_from_scores

            probabilities = probabilities_from_scores(output, threshold)
            keras_probabilities = probabilities_from_scores(against, threshold)
        test = solution.test_metrics(y_true, probabilities, fitted)
        if quantized:
            ex.check_quantized_score(quantized, head, test.get(head), keras_head if keras_value is None else keras_value,
                                     lower_is_better=solution.lower_is_better(head))
        return {
            "bytes": size,
            "max_abs_diff": float(np.max(np.abs(output - against))),
            "agreement": solution.agreement(keras_probabilities, probabilities, fitted),
            **({"decision_threshold": threshold} if threshold is not None else {}),
            "latency_ms": round(latency, 4),
            "test": test,
        }

    sm_dir = run / "saved_model"
    if saved_model or not sm_dir.exists():
        print("Exporting SavedModel ...")
        solution.export_saved_model(model, sm_dir, splits)
        runner = ex.SavedModelRunner(sm_dir)
        try:
            results["saved_model"] = entry(runner(served), ex.dir_bytes(sm_dir), runner.latency_ms(served[:1]),
                                           exact="the SavedModel")
        except ex.ExportError:
            shutil.rmtree(sm_dir, ignore_errors=True)  # not left for a client to load
            raise
    if serving:
        results["serving"] = _serving(solution, run, model, splits, fitted, options, reference, entry)
    if not variants:
        return results
    describe = _metadata(solution, run, splits, options)
    representative = solution.representative_samples(splits) if "int8" in variants else None
    with scratch_directory("tflite-source") as workdir:  # not shipped in the run
        source = solution.tflite_source(model, sm_dir, Path(workdir))
        isolate = solution.quantize_apart(model)  # e.g. recurrent: quantizers may crash the process
        for variant in variants:
            convert = ex.convert_tflite_isolated if isolate and variant == "int8" else ex.convert_tflite
            results.update(_tflite_variant(
                run, variant, lambda v=variant: convert(source, v, representative), describe(variant),
                lambda tfl, v=variant: entry(tfl(x_test), tfl.bytes, tfl.latency_ms(x_test[:1]),
                                             exact=f"TFLite {v}" if v == "float32" else None,
                                             quantized=None if v == "float32" else f"TFLite {v}")))
        edge_sources: list[tuple[keras.Model, Path]] = []  # edge variants of one Keras model share its batch-1 SavedModel
        for edge in solution.edge_models(model, splits, fitted, options, list(variants)):
            edge_source = next((path for m, path in edge_sources if m is edge.model), None)
            if edge_source is None:
                edge_source = ex.export_fixed_batch(edge.model, Path(workdir) / edge.variant, batch=1)
                edge_sources.append((edge.model, edge_source))
            result = _tflite_variant(
                run, edge.variant,
                lambda e=edge, src=edge_source: ex.convert_tflite(src, e.quantize, e.representative,
                                                                  integer_io=e.io_dtype),
                describe(edge.variant, edge.tensors),
                lambda tfl, e=edge: {**entry(tfl(e.x_test), tfl.bytes, tfl.latency_ms(e.x_test[:1]), e.reference,
                                             exact=f"TFLite {e.variant}" if e.quantize == "float32" else None,
                                             quantized=None if e.quantize == "float32" else f"TFLite {e.variant}",
                                             keras_value=(e.keras_test or {}).get(head, keras_head),
                                             threshold=e.decision_threshold),
                                     **({"keras_test": e.keras_test} if e.keras_test else {})},
                input_quantization=edge.input_quantization)
            if edge.keras_test is not None and "skipped" not in result[edge.variant]:
                save_model_atomic(edge.model, run / f"model_{edge.variant}.keras")  # its own model: the twin ships
            results.update(result)
    return results


def _serving(solution: Solution, run: Run, model: keras.Model, splits: Splits, fitted: dict[str, Any],
             options: Any, reference: np.ndarray, entry) -> dict[str, Any]:
    """<run>/serving/<name>/<version>/, its serving_default checked on the test split sent as
    TF Serving JSON rows (encoded images, raw text, the data's ids)."""
    from solutions.common import serving_export as se

    print("Exporting the TF Serving model ...")
    served = solution.serving_model(model, splits, fitted, options)
    path = se.serving_path(run.path, se.serving_name(solution))
    se.write_serving(served, path)
    servable = se.LoadedServable(path)  # as TF Serving loads it
    out, latency = se.check_serving(servable, served.instances, reference)
    return {**entry(out, ex.dir_bytes(path), latency), "path": str(path.relative_to(run.path)),
            "name": se.serving_name(solution), "version": se.VERSION, "signatures": se.describe(servable)}


def _metadata(solution: Solution, run: Run, splits: Splits, options: Any):
    """describe(variant, tensors=None) -> the metadata of one .tflite of this run: who made it from
    what, and its tensors (the domain's `tflite_tensors`, or an edge model's own)."""
    from solutions.common.edge import run_model_info

    def describe(variant: str, tensors=None):
        return run_model_info(solution, run.path, splits.source.get("name", "?"), f"{solution.name} ({variant})",
                              f"TFLite variant {variant}", tensors or solution.tflite_tensors(splits, options, variant))

    return describe


def _tflite_variant(run: Run, variant: str, convert, metadata, score, *,
                    input_quantization: tuple[float, int] | None = None) -> dict[str, dict]:
    """Convert one TFLite variant, add its metadata, check it has no Flex ops (and, for a file fed
    raw integers, its input quantization), score it, and only then write it; a quantizer failure
    (or a float file that disagrees with Keras) is recorded, except for float32, which fails the run."""
    from solutions.common.edge import describe_metadata
    from solutions.common.tflite_metadata import read_metadata, with_metadata

    print(f"Converting TFLite {variant} ...")
    try:
        content = with_metadata(convert(), metadata)
        tfl = ex.TFLiteRunner(content)
        got = tuple(tfl.input["quantization"])
        if input_quantization and not np.allclose(got, input_quantization):
            raise ex.ExportError(f"its input quantization is (scale, zero point) {got}, not {input_quantization}: "
                                 "a device feeding raw values would get wrong answers")
        flex = [op for op in tfl.op_names() if op.lower().startswith("flex")]
        if flex:
            raise UserError(f"TFLite {variant} model contains Flex ops {flex}; it would not run on a device")
        result = score(tfl)
    except ex.ExportError as exc:
        if variant == "float32":
            (run / ex.TFLITE_FILES[variant]).unlink(missing_ok=True)  # an earlier export's file is not this run's
            raise
        # A quantizer limitation (e.g. int8 LSTM, tensorflow/tensorflow#76672) costs one variant,
        # not the run: the reason is recorded and the other variants still ship. A file of that
        # variant from an earlier export is removed: it is not what this export's metrics describe.
        print(f"  skipped: {exc}")
        (run / ex.TFLITE_FILES[variant]).unlink(missing_ok=True)
        return {variant: {"skipped": str(exc)}}
    write_bytes_atomic(run / ex.TFLITE_FILES[variant], content)
    result["input_shape"] = [int(v) for v in tfl.input["shape_signature"]]
    result["input_dtype"] = np.dtype(tfl.input["dtype"]).name
    if np.issubdtype(tfl.input["dtype"], np.integer) and tfl.input["quantization"][0]:
        result["input_quantization"] = [float(v) for v in tfl.input["quantization"]]
        result["output_quantization"] = [float(v) for v in tfl.output["quantization"]]
    result["metadata"] = describe_metadata(read_metadata(content))
    return {variant: result}


def check_same_data(run: Run, config: dict[str, Any], splits: Splits) -> None:
    """The run's own data, read again, must be what it was trained on (its files' fingerprint)."""
    difference = source_difference(config.get("source", {}), splits.source)
    if difference:
        where = config["options"].get("data") or config["options"].get("dataset")
        raise UserError(f"the data at {where} is not what {run.path} was trained on ({difference}); "
                        "restore the run's data (evaluate also takes other data with --data or --dataset)")
    split = split_difference(config, splits.sizes(), splits.class_names, splits.source.get("repairs"))
    if split:  # the same files, read otherwise: its test split would not be the one it was tested on
        raise UserError(f"{run.path} cannot be scored on its own test split again: {split} (this version of "
                        "the kit reads them otherwise); retrain it, or score it on other data with --data")


def evaluate(run_path: str, overrides: dict[str, Any], split: str | None = None) -> dict[str, Any]:
    """Score a finished run's Keras model on its test split, or on other data. Files of your own
    (`--data`) the run never trained on are scored whole by default (it once scored their 15% test
    split only); a named dataset, or `split="test"`, scores the test split; `split="all"` asks for
    all of other data. Data whose files are the run's own always scores its test split."""
    if split not in (None, "test", "all"):
        raise UserError(f"--split {split!r}: choose test or all")
    run = open_finished(run_path)
    config = run.config
    solution = get_solution(config["domain"])
    options = {**config["options"], **{k: v for k, v in overrides.items() if v is not None}}
    if overrides.get("data"):
        options["dataset"] = None
    if overrides.get("dataset"):
        options["data"] = None
    plan = before_data(solution, {**options, **solution.pinned_options(run)})
    solution = solution.for_plan(plan)
    solution.check_data_source(plan)
    splits = solution.load_splits(plan)
    trained, now = config.get("source", {}).get("fingerprint"), splits.source.get("fingerprint")
    own = not (trained and now and trained != now)  # the same files (or no way to tell): the test split
    if not (overrides.get("data") or overrides.get("dataset")):
        check_same_data(run, config, splits)
    solution.check_compatible(run, splits)
    scored, part = splits.test, "test"
    if split == "all" or (split is None and overrides.get("data") and not own):
        whole = None if own else solution.all_examples(splits)
        if whole is not None:
            scored, part = whole, "all"
        elif split == "all":
            why = ("the run was trained on these files" if own else solution.whole_data_refused
                   or "its test split holds other things than its training split")
            raise UserError(f"{run.path} scores only the test split of this data ({why}); leave out --split all")
    scored, seen = (scored, None) if own else _unseen(run, scored)
    model = solution.load_model(run)
    y_score = predict_keras(model, solution.model_inputs(scored))
    result = {
        "run": str(run.path),
        "dataset": splits.source.get("name"),
        "split": part,  # "all": every example of other data; "test": the test split
        "size": len(scored),
        "test_size": len(scored),  # the examples scored (the name older callers read)
    }
    if seen is not None:  # other data: examples the run trained or validated on, not scored
        result["left_out_seen"] = seen
    if not own:  # other data: what reading it skipped, repaired or decided, as training prints it
        result.update(data_account(splits.source))
    return {**result, "test": solution.test_metrics(scored.y, y_score, solution.load_fitted(run))}


def data_account(source: dict[str, Any]) -> dict[str, Any]:
    """A source's counted skips ("skipped", "skipped_unit"), repairs and notes, those that say anything."""
    account: dict[str, Any] = {}
    skipped = {reason: count for reason, count in source.get("skipped", {}).items() if count}
    if skipped:
        account["skipped"], account["skipped_unit"] = skipped, source.get("skipped_unit", "file(s)")
    repairs = {repair: count for repair, count in source.get("repairs", {}).items() if count}
    if repairs:
        account["repairs"] = repairs
    if source.get("notes"):
        account["notes"] = list(source["notes"])
    return account


def _unseen(run: Run, scored: Split) -> tuple[Split, int | None]:
    """Other data without the examples the run trained or validated on (its `trained_examples.json`),
    and how many were left out; None where the run kept no such list (older runs, finance and
    recommendation, which score the test split of other data)."""
    if not (run.path / SEEN_FILE).exists():
        return scored, None
    saved = run.read_json(SEEN_FILE)
    if not isinstance(saved, dict) or not isinstance(saved.get("keys"), list):
        raise UserError(f"{run.path / SEEN_FILE} is damaged (no list of keys); retrain, or restore it from a copy")
    kept, seen = without_seen(scored, set(saved["keys"]))
    if not len(kept):
        raise UserError(f"every one of the {len(scored)} examples to score was in {run.path}'s training or "
                        "validation split: none is new to it (its own test split: evaluate without --data)")
    return kept, seen


def run_data(run: Run) -> tuple[Solution, Any, Splits]:
    """A finished run's solution, plan and data, read again (and checked to be what it trained on)."""
    solution = get_solution(run.config["domain"])
    plan = before_data(solution, {**run.config["options"], **solution.pinned_options(run)})
    solution = solution.for_plan(plan)
    solution.check_data_source(plan)
    splits = solution.load_splits(plan)
    check_same_data(run, run.config, splits)
    return solution, plan, splits


def export(run_path: str, *, formats: str, quantize: str) -> dict[str, dict]:
    """Re-export a finished run (for example only int8 for a microcontroller) and update its metrics."""
    run = open_finished(run_path)
    solution, plan, splits = run_data(run)
    make_deterministic(plan["seed"])
    model = solution.load_model(run)
    variants = ex.tflite_variants(quantize) if formats in ("tflite", "all") else []
    with DirectoryLock(run.path, "re-export"):  # every file is replaced atomically, metrics.json last
        results = export_run(solution, run, model, splits, solution.load_fitted(run), plan,
                             saved_model=formats in ("saved_model", "all"),
                             serving=formats in ("serving", "all"), variants=variants)
        metrics = run.read_json("metrics.json")
        metrics.setdefault("export", {}).update(results)
        if variants:  # the domain's own exported files and checks (e.g. recommend.tflite)
            metrics.setdefault("checks", {}).update(solution.run_checks(run, splits, model, plan))
        text = solution.report_text(splits, run.path)
        write_report(run, title=text.title, metrics=metrics, config=run.config, plots=_run_plots(run),
                     usage=text.usage, notes=text.notes, verdict=solution.verdict(metrics, plan))
        run.write_json("metrics.json", metrics)
    return results


def _run_plots(run: Run) -> list[str]:
    """The plots a finished run has, training curves first (a re-export rewrites the report)."""
    first = ["training_curves.png", "cv_folds.png"]
    names = sorted(p.name for p in run.path.glob("*.png"))
    return [n for n in first if n in names] + [n for n in names if n not in first]


def print_summary(solution: Solution, run: Run, metrics: dict[str, Any], headline: str,
                  verdict: Sequence[str] = ()) -> None:
    test = ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items() if isinstance(v, float))
    print()
    print(f"Finished {solution.name} on {metrics['dataset']}: test {test}")
    for line in verdict:
        print(f"  {line}")
    cv = metrics.get("cross_validation")
    if cv:
        head = cv["summary"].get(headline)
        if head:
            print(f"  {cv['folds']}-fold {cv.get('scheme', 'cross-validation')} {headline}: mean {head['mean']:.4f} "
                  f"+/- {head['std']:.4f} (min {head['min']:.4f}, max {head['max']:.4f})")
    print(f"  trained {metrics['epochs_run']} epochs in {metrics['train_seconds']:.1f} s "
          f"({metrics['train_samples_per_second']:.0f} samples/s)")
    if metrics.get("export_failed"):
        print(f"  export failed: {metrics['export_failed']}")
    for name, e in metrics.get("export", {}).items():
        if "skipped" in e:
            print(f"  {name:<12} skipped: {e['skipped']}")
            continue
        head = e["test"].get(headline, float("nan"))
        print(f"  {name:<12} {e['bytes'] / 1024:9.1f} KiB  max|diff| {e['max_abs_diff']:.2e}  "
              f"agreement {e['agreement']:.4f}  {headline} {head:.4f}  {e['latency_ms']:.3f} ms")
    print(f"Run directory: {run.path}")
    print(f"Report:        {run.path / 'report.md'}")
