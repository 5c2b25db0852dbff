"""`solutions.api` as a notebook uses it: runs that survive a change of directory, and clear errors
for inputs that are not files."""

import json

import numpy as np
import pytest

import solutions


def _finished_run(root):
    run = root / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"domain": "image-classification", "options": {}, "plan": {},
                                                      "source": {}}))
    (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    (run / "model.keras").write_bytes(b"")
    return run


def test_a_run_loaded_by_a_relative_path_survives_a_change_of_directory(tmp_path, monkeypatch):
    _finished_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = solutions.load("runs/r")
    monkeypatch.chdir(tmp_path.parent)
    assert run.path == tmp_path / "runs" / "r" and run.path.is_absolute()
    assert run.metrics["test"]["accuracy"] == 0.5  # was FileNotFoundError: 'runs/r/metrics.json'


def test_an_in_memory_image_is_a_clear_error(tmp_path):
    run = solutions.load(_finished_run(tmp_path))
    with pytest.raises(solutions.UserError, match="file paths .* not a ndarray: save the image"):
        run.predict([np.zeros((8, 8))])


def test_a_search_loaded_by_a_relative_path_keeps_it_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert solutions.api.Search("searches/s").path == tmp_path / "searches" / "s"


def test_an_old_run_whose_files_now_read_otherwise_is_not_scored_on_a_new_split(tmp_path):
    """Its CSV held repeated rows, which the sentiment reader now drops: the same files (same
    fingerprint) split otherwise, so its "test split" would hold training texts."""
    import json

    rows = [f"text number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}" for i in range(40)]
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "\n".join(rows + rows[:6]) + "\n")
    run = solutions.train("sentiment", data=str(data), text_column="text", label_column="label", epochs=1,
                          model="bow", no_export=True, output=str(tmp_path / "run"))
    config = json.loads((run.path / "config.json").read_text())
    config["sizes"] = {k: v + 1 for k, v in config["sizes"].items()}  # as the reader before counted them
    (run.path / "config.json").write_text(json.dumps(config))
    with pytest.raises(solutions.UserError, match="cannot be scored on its own test split again: its files now read"):
        solutions.load(run.path).evaluate()


def test_a_notebook_s_keyword_options_are_what_resume_and_tune_check(tmp_path, monkeypatch):
    """The Python API passes down which options a call spelled out, as the CLI does for typed flags:
    `train(resume=True, epochs=7)` is refused on a 1-epoch run, and `tune(dim=8)` holds dim."""
    from solutions.api import train_options
    from solutions.tuning import search
    from tests.solutions.recommendation.contract import case

    options = case(tmp_path)["options"]
    (tmp_path / "run.partial").mkdir()
    (tmp_path / "run.partial" / "config.json").write_text(json.dumps(
        {"domain": "recommendation", "options": train_options("recommendation", **options)}))
    with pytest.raises(solutions.UserError, match=r"--epochs 7 \(it has 1\)"):
        solutions.train("recommendation", resume=True, output=str(tmp_path / "run"), epochs=7)
    with pytest.raises(solutions.UserError, match="give one of them"):
        solutions.train("recommendation", resume=True, output=str(tmp_path / "run"), config=tmp_path / "c.yaml")

    seen = {}
    monkeypatch.setattr(search, "run_search", lambda *args, **kwargs: seen.update(kwargs) or tmp_path)
    solutions.tune("recommendation", **{**options, "dim": 8}, output=str(tmp_path / "search"))
    assert seen["asked"]["dim"] == 8 and "learning_rate" not in seen["asked"]  # a default is not asked
    assert "output" not in seen["asked"]
