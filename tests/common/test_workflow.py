"""The shared train flow: finished runs, interrupted runs and --resume (acceptance 5)."""

import csv

import numpy as np

import keras
import pytest

from solutions.common.errors import UserError
from solutions.common.rundir import open_finished, partial_path
from solutions.common.solution import get_solution
from solutions.common.workflow import train
from tests.conftest import FAST

SOLUTION = get_solution("image-classification")


class StopAfterEpoch(keras.callbacks.Callback):
    """Simulates Ctrl-C at the end of epoch `n` (after the backup of that epoch was written)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise KeyboardInterrupt


def _epochs(run_path):
    with open(run_path / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_interrupted_run_resumes_to_the_same_number_of_epochs(fast_options, tmp_path):
    options = {**fast_options, "epochs": 4, "no_export": True}
    reference = train(SOLUTION, {**options, "output": str(tmp_path / "reference")})
    assert _epochs(reference.path) == [1, 2, 3, 4]

    with pytest.raises(KeyboardInterrupt):
        train(SOLUTION, options, extra_callbacks=[StopAfterEpoch(2)])
    final = tmp_path / "run"
    assert partial_path(final).exists() and not final.exists()
    with pytest.raises(UserError, match="did not finish"):
        open_finished(final)

    resumed = train(SOLUTION, {"output": str(final)}, resume=True)
    assert resumed.path == final and resumed.finished
    assert _epochs(final) == [1, 2, 3, 4]
    metrics = resumed.read_json("metrics.json")
    assert metrics["epochs_run"] == 4
    assert resumed.config["options"]["epochs"] == 4


def test_finished_run_has_the_contracted_files_and_keys(trained_run):
    files = {p.name for p in trained_run.path.iterdir()}
    assert {"model.keras", "saved_model", "model.tflite", "model_int8.tflite", "config.json", "metrics.json",
            "history.csv", "report.md", "labels.txt", "training_curves.png", "confusion_matrix.png",
            "test_predictions.png", "logs"} <= files
    m = trained_run.read_json("metrics.json")
    assert {"domain", "dataset", "sizes", "test", "baselines", "train_seconds", "train_samples_per_second",
            "export"} <= set(m)
    assert set(m["sizes"]) == {"train", "val", "test"} and set(m["test"]) == {"accuracy", "macro_f1"}
    for variant in ("saved_model", "float32", "int8"):
        assert {"bytes", "max_abs_diff", "agreement", "latency_ms", "test"} <= set(m["export"][variant])
    assert m["export"]["saved_model"]["max_abs_diff"] <= 1e-5
    assert m["export"]["float32"]["max_abs_diff"] <= 1e-4
    config = trained_run.config
    assert config["seed"] == 0 and "seed 0" in config["source"]["split"] and config["source"]["fingerprint"]
    report = (trained_run.path / "report.md").read_text()
    assert "confusion_matrix.png" in report and "int8" in report and "solutions predict" in report


def test_data_that_fails_to_load_leaves_no_run_directory(fast_options, tmp_path, monkeypatch):
    from dataclasses import replace

    import solutions.image_classification.data as data

    monkeypatch.setattr(data, "CIFAR10", replace(data.CIFAR10, url="http://127.0.0.1:9/cifar-10-python.tar.gz"))
    options = {**fast_options, "dataset": "cifar10", "data_dir": str(tmp_path / "offline")}
    with pytest.raises(UserError, match="cifar-10-python.tar.gz"):
        train(SOLUTION, options)
    assert not list(tmp_path.glob("run*"))


def test_a_float_tflite_that_disagrees_with_keras_is_not_shipped(fast_options, tmp_path, monkeypatch):
    """A converter bug (README "Reliability": the two-tower catalogue folded to garbage) once shipped a float32
    file scoring recall 0.05 against Keras' 0.19, reported only as a number in metrics.json."""
    from solutions.common import export as ex
    from solutions.common.errors import ExportError

    honest = ex.TFLiteRunner.__call__
    monkeypatch.setattr(ex.TFLiteRunner, "__call__", lambda self, x, **kw: honest(self, x, **kw) + 0.01)
    with pytest.raises(ExportError, match=r"the run finished at .*, its export did not: TFLite float32 "
                                          r"disagrees with the Keras model .*max \|diff\| 0.01"):
        train(SOLUTION, {**fast_options, "epochs": 1, "quantize": "none"})
    run = open_finished(tmp_path / "run")  # the trained model is not lost: export can be retried
    assert "TFLite float32 disagrees" in run.read_json("metrics.json")["export_failed"]
    assert "Export failed" in (run.path / "report.md").read_text()
    assert not list(tmp_path.rglob("*.tflite"))
    assert (run.path / "saved_model").exists()  # the SavedModel, checked first, did match


def test_a_variant_skipped_on_re_export_leaves_no_stale_file(fast_options, tmp_path, monkeypatch):
    """A re-export whose int8 quantizer fails must not leave the earlier export's int8 file beside
    metrics that say the variant was skipped."""
    from solutions.common import export as ex
    from solutions.common.errors import ExportError
    from solutions.common.workflow import export

    run = train(SOLUTION, {**fast_options, "epochs": 1, "quantize": "int8"})
    assert (run.path / "model_int8.tflite").exists()
    honest = ex.convert_tflite

    def int8_fails(source, variant, *args, **kwargs):
        if variant == "int8":
            raise ExportError("the quantizer gave up")
        return honest(source, variant, *args, **kwargs)

    monkeypatch.setattr(ex, "convert_tflite", int8_fails)
    results = export(str(run.path), formats="tflite", quantize="int8")
    assert results["int8"] == {"skipped": "the quantizer gave up"}
    assert not (run.path / "model_int8.tflite").exists() and (run.path / "model.tflite").exists()
    assert run.read_json("metrics.json")["export"]["int8"] == {"skipped": "the quantizer gave up"}


def test_same_seed_same_run(fast_options, tmp_path):
    options = {**fast_options, "epochs": 2, "no_export": True}
    first = train(SOLUTION, {**options, "output": str(tmp_path / "a")})
    second = train(SOLUTION, {**options, "output": str(tmp_path / "b")})
    assert (first.path / "history.csv").read_text() == (second.path / "history.csv").read_text()
    assert first.read_json("metrics.json")["test"] == second.read_json("metrics.json")["test"]


@pytest.mark.parametrize("package", ["medical_imaging", "sentiment", "timeseries_finance", "recommendation"])
def test_every_domain_resumes_from_its_saved_training_state(package, tmp_path):
    """The per-epoch state (.npz of model and optimizer variables) of every domain's model loads
    back into the model a resumed process builds: interrupted after epoch 1 of 3, it ends at 3."""
    import importlib

    from solutions.api import train_options
    from solutions.common.solution import all_solutions

    case = importlib.import_module(f"tests.solutions.{package}.contract").case(tmp_path)
    name = next(s.name for s in all_solutions() if type(s).__module__.split(".")[1] == package)
    solution = get_solution(name)
    final = tmp_path / "run"
    options = {**train_options(name, **{**case["options"], "epochs": 3}), "no_export": True, "output": str(final)}
    with pytest.raises(KeyboardInterrupt):
        train(solution, options, extra_callbacks=[StopAfterEpoch(1)])
    backups = list(partial_path(final).glob("checkpoints/backup-*/epoch-0001.state.npz"))
    assert backups, "the first epoch was committed as a .npz state"
    resumed = train(solution, {"output": str(final)}, resume=True)
    assert resumed.finished and _epochs(final) == [1, 2, 3]


class _Fitted(Exception):
    pass


@pytest.mark.parametrize("package,overrides", [
    ("image_classification", {}), ("medical_imaging", {}), ("sentiment", {}), ("timeseries_finance", {}),
    ("recommendation", {}), ("recommendation", {"model": "autorec", "hidden": 8})])
def test_every_domain_trains_on_pipelines_without_the_autotuner(package, overrides, tmp_path, monkeypatch):
    """Its thread stalled each epoch's start (common/pipeline.py); AutoRec's pipelines are built by
    hand, not with `make_dataset`."""
    import importlib

    from solutions.api import train_options
    from solutions.common.solution import all_solutions

    seen = []

    def fit(self, x=None, *args, validation_data=None, **kwargs):
        seen.append([ds.options().autotune.enabled for ds in (x, validation_data)])
        raise _Fitted

    monkeypatch.setattr(keras.Model, "fit", fit)
    case = importlib.import_module(f"tests.solutions.{package}.contract").case(tmp_path)
    name = next(s.name for s in all_solutions() if type(s).__module__.split(".")[1] == package)
    options = {**train_options(name, **{**case["options"], **overrides}), "no_export": True,
               "output": str(tmp_path / "run")}
    with pytest.raises(_Fitted):
        train(get_solution(name), options)
    assert seen == [[False, False]]


def test_the_edge_variants_of_one_model_share_one_batch_1_saved_model(trained_run, tmp_path, monkeypatch):
    """edge and edge_uint8 are one Keras model converted twice: its batch-1 SavedModel is written
    once (3 s of every image run's export on 2 cores), and both files still ship and are checked."""
    import shutil

    from solutions.common import export as ex
    from solutions.common.workflow import export

    run_path = tmp_path / "run"
    shutil.copytree(trained_run.path, run_path)
    written = []
    honest = ex.export_fixed_batch

    def counted(model, path, *, batch):
        written.append((model.name, path.name, batch))
        return honest(model, path, batch=batch)

    monkeypatch.setattr(ex, "export_fixed_batch", counted)
    results = export(str(run_path), formats="tflite", quantize="int8")
    assert [w[2] for w in written] == [1], written
    for variant in ("edge", "edge_uint8"):
        assert "skipped" not in results[variant] and (run_path / ex.TFLITE_FILES[variant]).exists()
    assert results["edge_uint8"]["input_dtype"] == "uint8" and results["edge"]["input_dtype"] == "float32"


def test_a_folder_run_interrupted_before_first_stride_resumes_with_its_own_model(tmp_path):
    """A 28 px folder now resolves --first-stride 2; a run interrupted under a version without the
    option (no `first_stride` in its config.json) must resume the stride-1 model its checkpoints hold."""
    import json

    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(24):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "data" / label / f"{i}.png")
    final = tmp_path / "run"
    options = {**FAST, "dataset": None, "data": str(tmp_path / "data"), "epochs": 3, "no_export": True,
               "width": 16, "image_size": None, "output": str(final)}
    with pytest.raises(KeyboardInterrupt):
        train(SOLUTION, {**options, "first_stride": 1}, extra_callbacks=[StopAfterEpoch(1)])
    config_path = partial_path(final) / "config.json"
    config = json.loads(config_path.read_text())
    assert config["plan"]["first_stride"] == 1
    del config["plan"]["first_stride"], config["options"]["first_stride"]  # as the older version wrote it
    config_path.write_text(json.dumps(config))
    resumed = train(SOLUTION, {"output": str(final)}, resume=True)
    assert _epochs(final) == [1, 2, 3]
    model = keras.saving.load_model(final / "model.keras", compile=False)
    assert model.get_layer("features").output.shape[1] == 7  # 28 -> 28 -> 14 -> 7: stride 1
    assert resumed.finished


def test_training_time_survives_a_kill_between_epochs(tmp_path, monkeypatch):
    """kill -9 skips `finally`: the seconds of the epochs trained before it are saved at each
    epoch's end, so a resumed run's time (and samples/s) counts them."""
    import json

    from solutions.common import workflow

    now = [100.0]
    monkeypatch.setattr(workflow.time, "perf_counter", lambda: now[0])
    path = tmp_path / "checkpoints" / "timing.json"
    first = workflow.TrainingClock(path)
    now[0] += 30.0
    first.on_epoch_end(0)  # then killed: no save() at the end
    now[0] += 20.0  # lost with the kill (the epoch in progress is trained again)
    resumed = workflow.TrainingClock(path)
    assert resumed.spent == 30.0
    now[0] += 5.0
    assert resumed.save() == 35.0 and json.loads(path.read_text())["seconds"] == 35.0
