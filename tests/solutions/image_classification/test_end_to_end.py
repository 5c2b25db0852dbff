"""The CLI on a folder of real images with bad files in it, then evaluate, predict and export."""

import json

import numpy as np
import pytest

from solutions.cli import main
from tests.conftest import write_digit_pngs


def test_folder_with_bad_files_trains_and_predicts(tmp_path, capsys):
    root = write_digit_pngs(tmp_path / "pngs", per_class=15, classes=3)
    (root / "digit_1" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "digit_2" / "README.txt").write_text("a stray file")
    out = tmp_path / "run"
    code = main(["train", "image-classification", "--data", str(root), "--image-size", "16", "--epochs", "2",
                 "--width", "8", "--quantize", "int8", "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Skipped 1 file(s): corrupt" in printed and "Skipped 1 file(s): not an image" in printed
    assert "Run directory: " + str(out) in printed
    config = json.loads((out / "config.json").read_text())
    assert config["source"]["skipped"] == {"not_an_image": 1, "corrupt": 1} and config["source"]["images_read"] == 45
    assert (out / "labels.txt").read_text().split() == ["digit_0", "digit_1", "digit_2"]

    image = root / "digit_2" / "0.png"
    assert main(["predict", str(out), str(image), "--top-k", "2"]) == 0
    keras_line = capsys.readouterr().out.strip()
    assert keras_line.startswith(str(image) + ": ") and keras_line.split(": ")[1].count("digit_") == 2
    assert main(["predict", str(out), str(image), "--top-k", "2", "--tflite"]) == 0
    tflite_line = capsys.readouterr().out.strip()
    assert tflite_line.split(": ")[1].split()[0] == keras_line.split(": ")[1].split()[0]

    assert main(["evaluate", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert abs(result["test"]["accuracy"] - metrics["test"]["accuracy"]) < 1e-9
    assert result["split"] == "test" and result["size"] == config["sizes"]["test"]
    # its own folder named again is still its own data: the test split, and never all of it
    assert main(["evaluate", str(out), "--data", str(root)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["split"] == "test" and again["test"]["accuracy"] == result["test"]["accuracy"]
    assert main(["evaluate", str(out), "--data", str(root), "--split", "all"]) == 2
    assert "the run was trained on these files" in capsys.readouterr().err

    labels = (out / "labels.txt").read_text()
    (out / "labels.txt").write_text(labels.split("\n", 1)[1])  # a line lost: every answer would shift by one
    assert main(["predict", str(out), str(image)]) == 2
    assert "does not match the run's config.json" in capsys.readouterr().err
    (out / "labels.txt").write_text(labels)

    assert main(["export", str(out), "--format", "tflite", "--quantize", "float16"]) == 0
    assert (out / "model_float16.tflite").exists()
    assert "float16" in json.loads((out / "metrics.json").read_text())["export"]


def test_evaluate_on_a_folder_uses_the_runs_input_shape(trained_run, tmp_path, capsys):
    """A digits run (16x16 grayscale) scored on RGB PNGs of other sizes named like its classes."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        folder = tmp_path / "rgb" / str(label)
        folder.mkdir(parents=True)
        for i, img in enumerate(digits.images[digits.target == label][:8]):
            gray = (img * 255 / 16).astype("uint8")
            Image.fromarray(gray).convert("RGB").resize((24, 24)).save(folder / f"{i}.png")
    assert main(["evaluate", str(trained_run.path), "--data", str(tmp_path / "rgb")]) == 0
    result = json.loads(capsys.readouterr().out)
    # data the run never saw is scored whole (it was once its own 15% test split: 12 of 80 images)
    assert result["dataset"].startswith("folder:") and result["split"] == "all" and result["size"] == 80
    assert 0.0 <= result["test"]["accuracy"] <= 1.0
    assert main(["evaluate", str(trained_run.path), "--data", str(tmp_path / "rgb"), "--split", "test"]) == 0
    assert json.loads(capsys.readouterr().out)["size"] < 20


def test_evaluate_on_a_folder_mixing_the_runs_training_images_with_new_ones_scores_the_new(tmp_path, capsys):
    """A user adds new scans to the folder a run trained on and evaluates on it: the whole folder was
    scored, the run's own training images included (its fingerprint differs, so it counts as new)."""
    import shutil

    from PIL import Image
    from sklearn.datasets import load_digits

    root = write_digit_pngs(tmp_path / "pngs", per_class=15, classes=3)
    out = tmp_path / "run"
    assert main(["train", "image-classification", "--data", str(root), "--image-size", "16", "--epochs", "1",
                 "--width", "8", "--no-export", "--output", str(out)]) == 0
    capsys.readouterr()
    sizes = json.loads((out / "config.json").read_text())["sizes"]
    seen = json.loads((out / "trained_examples.json").read_text())["keys"]
    assert len(seen) == sizes["train"] + sizes["val"]
    mixed = tmp_path / "mixed"
    shutil.copytree(root, mixed)
    digits = load_digits()
    for label in range(3):  # 10 new images a class, named so they sort among the old ones
        for i, img in enumerate(digits.images[digits.target == label][15:25]):
            Image.fromarray(np.round(img * 255 / 16).astype(np.uint8), mode="L").save(
                mixed / f"digit_{label}" / f"new_{i}.png")
    (mixed / "digit_1" / "broken.png").write_bytes(b"not an image")
    assert main(["evaluate", str(out), "--data", str(mixed)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "all" and result["left_out_seen"] == sizes["train"] + sizes["val"]
    assert sum(result["skipped"].values()) == 1 and result["skipped_unit"] == "file(s)"  # said, as training says it
    assert result["size"] == 30 + sizes["test"]  # the new images and the run's own test images
    assert main(["evaluate", str(out), "--data", str(mixed), "--split", "test"]) == 0
    part = json.loads(capsys.readouterr().out)  # the mixed folder's own test split, less what the run saw
    assert part["split"] == "test" and part["size"] >= 1 and part["left_out_seen"] >= 1 and part["size"] < 20


def test_other_data_the_run_saw_whole_is_one_error_and_a_damaged_list_too(tmp_path):
    from solutions.common.data import Split, example_keys
    from solutions.common.errors import UserError
    from solutions.common.rundir import Run
    from solutions.common.workflow import _unseen

    x = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    split = Split(x, np.array([0, 1, 0, 1]))
    run = Run(tmp_path)
    assert _unseen(run, split) == (split, None)  # an older run: nothing to leave out
    run.write_json("trained_examples.json", {"keys": example_keys(Split(x[:3], split.y[:3]))})
    kept, seen = _unseen(run, split)
    assert seen == 3 and kept.x.tolist() == x[3:].tolist() and kept.y.tolist() == [1]
    run.write_json("trained_examples.json", {"keys": example_keys(split)})
    with pytest.raises(UserError, match="every one of the 4 examples"):
        _unseen(run, split)
    run.write_json("trained_examples.json", {"keys": "abc"})
    with pytest.raises(UserError, match="damaged"):
        _unseen(run, split)
    texts = Split(np.zeros((2, 3)), np.array([0, 1]), raw=np.array(["good film", "bad film"], dtype=object))
    assert example_keys(texts) == example_keys(Split(np.ones((2, 3)), np.array([1, 0]),
                                                     raw=np.array(["good film\n", " bad  film"])))  # the text counts
    assert example_keys(texts)[0] != example_keys(texts)[1]
