"""medical-imaging through the CLI: a multi-class MedMNIST-format file, a DICOM folder, bad input."""

import json

import numpy as np
import pytest

from solutions.cli import main
from tests.conftest import require_data
from tests.solutions.medical_imaging.dicom_files import write_dicom

FAST = ["--epochs", "2", "--width", "8", "--batch-size", "32"]


@pytest.fixture(scope="module")
def pneumonia():
    with np.load(require_data("medmnist/pneumoniamnist.npz")) as f:
        return {k: f[k] for k in f.files}


def test_multiclass_medmnist_file_gives_multiclass_metrics(tmp_path, capsys, monkeypatch):
    """Three classes made from real digits (a small MedMNIST-format file)."""
    from sklearn.datasets import load_digits

    from solutions.common import workflow

    patiences = []  # what the training loop is given (no --patience: the run's epochs)

    def fit_phases(*args, patience, **kwargs):
        patiences.append(patience)
        return real_fit_phases(*args, patience=patience, **kwargs)

    real_fit_phases = workflow.fit_phases
    monkeypatch.setattr(workflow, "fit_phases", fit_phases)

    digits = load_digits()
    keep = digits.target < 3
    x = np.round(digits.images[keep] * 255 / 16).astype(np.uint8)
    x = np.kron(x, np.ones((1, 3, 3), np.uint8))[:, :28, :28]
    y = digits.target[keep].reshape(-1, 1)
    parts = {"train": slice(0, 360), "val": slice(360, 440), "test": slice(440, None)}
    np.savez(tmp_path / "three.npz", **{f"{p}_images": x[s] for p, s in parts.items()},
             **{f"{p}_labels": y[s] for p, s in parts.items()})
    out = tmp_path / "run"
    assert main(["train", "medical-imaging", "--data", str(tmp_path / "three.npz"), "--quantize", "none",
                 "--output", str(out), *FAST]) == 0
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    decision = json.loads((out / "decision.json").read_text())
    assert decision["threshold"] is None and decision["rule"] == "arg-max" and decision["temperature"] > 0
    assert set(metrics["test"]) >= {"auc", "accuracy", "sensitivity", "specificity", "threshold", "ece"}
    assert metrics["test"]["threshold"] is None and 0 <= metrics["test"]["auc"] <= 1
    assert metrics["monitor"] == "val_auc" and "val_auc" in (out / "history.csv").read_text().splitlines()[0]
    assert (out / "labels.txt").read_text().split() == ["class_0", "class_1", "class_2"]
    config = json.loads((out / "config.json").read_text())  # no --patience: every epoch is trained
    assert config["options"]["patience"] is None and config["plan"]["patience"] == 2 and patiences == [2]
    for plot in ("roc_pr.png", "reliability.png", "gradcam.png", "confusion_matrix.png"):
        assert (out / plot).exists()


def test_dicom_folder_trains_predicts_and_explains(tmp_path, pneumonia, capsys):
    root = tmp_path / "dicom"
    images, labels = pneumonia["train_images"][:240], pneumonia["train_labels"][:240, 0]
    for i, (img, label) in enumerate(zip(images, labels)):
        write_dicom(root / ("pneumonia" if label else "normal") / f"{i}.dcm", img.astype(np.uint16) * 4,
                    monochrome1=False)
    write_dicom(root / "normal" / "report.dcm", None)  # no pixel data: skipped and counted
    out = tmp_path / "run"
    assert main(["train", "medical-imaging", "--data", str(root), "--image-size", "28", "--quantize", "none",
                 "--target-sensitivity", "0.9", "--output", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "Skipped 1 file(s): corrupt" in printed
    decision = json.loads((out / "decision.json").read_text())
    assert decision["rule"] == "validation sensitivity >= 0.9" and decision["positive_class"] == "pneumonia"
    report = (out / "report.md").read_text()
    assert "Not for clinical use" in report and "Youden" in report

    scan = root / "pneumonia" / next(p.name for p in sorted((root / "pneumonia").iterdir()))
    assert main(["predict", str(out), str(scan), "--explain", "--explain-dir", str(tmp_path / "cams")]) == 0
    answer = capsys.readouterr().out
    assert "threshold" in answer and "p(pneumonia)" in answer
    assert (tmp_path / "cams" / f"{scan.stem}.gradcam.png").exists()

    assert main(["predict", str(out), str(root / "normal" / "report.dcm")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no pixel data" in err[0]


def test_npz_without_keys_is_one_error_line(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 28, 28), np.uint8))
    assert main(["train", "medical-imaging", "--data", str(tmp_path / "bad.npz"), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing keys" in err[0]
    assert not (tmp_path / "r.partial").exists()
