"""From a CSV of real sentences to a run directory, predictions, evaluation and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from solutions.common.solution import get_solution
from solutions.common.workflow import evaluate, train
from tests.conftest import run_cli
from tests.solutions.sentiment.corpus import write_csv

OPTIONS = dict(epochs=2, batch_size=32, learning_rate=3e-3, patience=3, seed=0, val_split=0.15, test_split=0.2,
               data_dir=None, quantize="dynamic", no_export=False, dataset=None, text_column="review",
               label_column="sentiment", sequence_length=None, max_tokens=None, embedding_dim=16, width=16,
               depth=1, dropout=0.3, cv=None)


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("csv") / "reviews.csv", 80)


@pytest.fixture(scope="module")
def bilstm_run(csv_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "bilstm"
    return train(get_solution("sentiment"), {**OPTIONS, "model": "bilstm", "data": str(csv_file), "output": str(out)})


def test_run_ships_tokenizer_and_builtin_tflite(bilstm_run):
    run = bilstm_run
    for name in ("model.keras", "saved_model", "model.tflite", "model_dynamic.tflite", "vocab.txt",
                 "tokenizer.json", "labels.txt", "report.md", "confusion_matrix.png", "training_curves.png"):
        assert (run / name).exists(), name
    metrics = run.read_json("metrics.json")
    assert metrics["checks"]["tokenizer_agreement"] == 1.0
    f32 = metrics["export"]["float32"]
    assert f32["input_shape"][0] == 1  # recurrent: fixed batch 1 keeps the LSTM on builtin ops
    assert f32["agreement"] >= 0.995 and f32["max_abs_diff"] < 1e-4
    assert metrics["export"]["saved_model"]["max_abs_diff"] < 1e-5  # raw strings in, vocabulary inside
    assert set(metrics["baselines"]) == {"majority_class", "tfidf_logistic_regression"}


def test_predict_answers_for_empty_and_long_texts(bilstm_run):
    long_text = "a wonderful , moving film . " * 200
    for extra in ([], ["--tflite"]):
        result = run_cli("predict", str(bilstm_run.path), "", "qzxv wqpt", long_text, "a dull , lifeless mess", *extra)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 4
        # no words at all, and only words outside the vocabulary ([UNK]), are both flagged
        assert "no known tokens" in lines[0] and "no known tokens" in lines[1] and "cut to the first" in lines[2]
        assert "(" not in lines[3]
        for line in lines:
            label, prob, _ = line.split("\t", 2)
            assert label in ("negative", "positive") and 0.5 <= float(prob) <= 1.0


def test_evaluate_reuses_the_runs_vocabulary(bilstm_run, csv_file):
    result = evaluate(str(bilstm_run.path), {"data": str(csv_file)})
    metrics = bilstm_run.read_json("metrics.json")
    assert result["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert result["split"] == "test"  # the run's own file: its test split, not all of it


def test_cross_validation_reports_every_fold(csv_file, tmp_path):
    run = train(get_solution("sentiment"), {**OPTIONS, "model": "cnn", "epochs": 1, "cv": 3, "data": str(csv_file),
                                            "output": str(tmp_path / "cv"), "no_export": True})
    cv = run.read_json("metrics.json")["cross_validation"]
    assert cv["folds"] == 3 and [r["fold"] for r in cv["per_fold"]] == [1, 2, 3]
    accuracies = [r["accuracy"] for r in cv["per_fold"]]
    assert cv["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert (run / "cv_folds.png").exists()
    sizes = run.read_json("config.json")["sizes"]
    assert sizes["test"] == pytest.approx(160 / 3, abs=1)  # a fold is the test split


def test_csv_errors_are_one_line(csv_file, tmp_path):
    missing = run_cli("train", "sentiment", "--data", str(csv_file), "--text-column", "body", "--output", str(tmp_path / "x"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no column 'body'" in missing.stderr
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "\n".join(f"text {i},pos" for i in range(10)) + "\n")
    result = run_cli("train", "sentiment", "--data", str(one_class), "--output", str(tmp_path / "y"))
    assert result.returncode == 2 and "only one class" in result.stderr and not (tmp_path / "y").exists()


def test_tfidf_baseline_is_reported_in_the_report(bilstm_run):
    report = (bilstm_run / "report.md").read_text()
    assert "tfidf_logistic_regression" in report and "tokenizer" in report
    assert json.loads((bilstm_run / "tokenizer.json").read_text())["ngrams"] == 1


def test_default_bow_reads_characters_from_training_to_predict(csv_file, tmp_path):
    """The default model on short texts: the character view is on (plan, files, report), both
    tokenizers agree, Keras and TFLite answer alike, and a run missing char_vocab.txt is one line."""
    import shutil

    run = train(get_solution("sentiment"), {**OPTIONS, "model": "bow", "char_ngrams": None, "data": str(csv_file),
                                            "output": str(tmp_path / "bow")})
    assert (run / "char_vocab.txt").exists()
    assert run.read_json("config.json")["plan"]["char_ngrams"] is True
    metrics = run.read_json("metrics.json")
    assert metrics["checks"]["tokenizer_agreement"] == 1.0
    assert metrics["export"]["float32"]["agreement"] >= 0.995
    assert set(run.read_json("mixing.json")) >= {"discriminative_words", "discriminative_chars"}
    assert "character n-grams" in (run / "report.md").read_text()

    answers = []
    for extra in ([], ["--tflite"]):
        result = run_cli("predict", str(run.path), "", "qzxv wqpt", "a dull , lifeless mess", *extra)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert "no known tokens" in lines[0] and "no known words" in lines[1] and "(" not in lines[2]
        answers.append([line.split("\t")[0] for line in lines])
    assert answers[0] == answers[1]

    broken = tmp_path / "broken"
    shutil.copytree(run.path, broken)
    (broken / "char_vocab.txt").unlink()
    result = run_cli("predict", str(broken), "a fine film", "--tflite")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "char_vocab.txt" in result.stderr
