"""The edge variants and TFLite metadata, checked by the client they are for: MediaPipe Tasks (the
same C++ as on Android and iOS) and MediaPipe's own metadata schema parser. Small real data here;
the default-size runs are checked in each domain's test_default_run.py (`make test-slow`)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require_data, run_cli, tiny_image_classifier
from tests.mediapipe_clients import check_image_edge, check_text_edge, image_scores, metadata


def _tiny_rgb_classifier(tmp_path):
    """(a small RGB Keras classifier, its float32 TFLite file without metadata)."""
    from solutions.common.export import convert_tflite, export_fixed_batch

    model = tiny_image_classifier(3, "image")
    return model, convert_tflite(export_fixed_batch(model, tmp_path / "sm", batch=1), "float32")


def test_metadata_is_read_back_by_the_kit_and_by_mediapipe(tmp_path):
    from solutions.common.edge import image_tensor, model_info, probabilities_tensor
    from solutions.common.tflite_metadata import read_metadata, with_metadata

    model, plain = _tiny_rgb_classifier(tmp_path)
    assert read_metadata(plain) is None
    info = model_info("tiny", "three classes", "run-1", [image_tensor(8, 8, 3)], [probabilities_tensor(["a", "b", "c"])])
    content = with_metadata(plain, info)
    ours = read_metadata(content)
    assert (ours["name"], ours["version"], ours["author"].split()[0]) == ("tiny", "run-1", "keras-solutions-kit")
    assert ours["inputs"][0]["image"] == "RGB" and ours["inputs"][0]["range"] == [0.0, 255.0]
    assert ours["inputs"][0]["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert ours["files"] == {"labels.txt": b"a\nb\nc\n"}

    path = tmp_path / "tiny.tflite"
    path.write_bytes(content)
    parsed = metadata(path)  # MediaPipe's generated schema, not the kit's reader
    image, probability = parsed.subgraphMetadata[0].inputTensorMetadata[0], parsed.subgraphMetadata[0].outputTensorMetadata[0]
    assert parsed.name == b"tiny" and parsed.minParserVersion == b"1.0.0"
    assert image.content.contentProperties.colorSpace == 1  # RGB
    assert list(image.processUnits[0].options.std) == [1.0] and list(image.stats.max) == [255.0]
    assert probability.associatedFiles[0].name == b"labels.txt" and probability.associatedFiles[0].type == 2

    # the file still runs, and MediaPipe classifies with it exactly as the interpreter does
    from solutions.common.export import TFLiteRunner

    frames = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    expected = np.asarray(model.predict(frames.astype(np.float32), verbose=0))
    np.testing.assert_allclose(TFLiteRunner(content)(frames.astype(np.float32)), expected, atol=1e-5)
    np.testing.assert_allclose(image_scores(path, frames), expected, atol=1e-5)


def test_metadata_must_describe_every_tensor(tmp_path):
    from solutions.common.edge import image_tensor, model_info
    from solutions.common.tflite_metadata import read_metadata, with_metadata

    _, plain = _tiny_rgb_classifier(tmp_path)
    with pytest.raises(ValueError, match="metadata describes 1 inputs and 0 outputs; the model has 1 and 1"):
        with_metadata(plain, model_info("tiny", "", "1", [image_tensor(8, 8, 3)], []))
    # metadata written again replaces the old in place: the file does not grow
    info = model_info("tiny", "", "1", [image_tensor(8, 8, 3)], [image_tensor(8, 8, 3)])
    once = with_metadata(plain, info)
    assert len(with_metadata(once, info)) == len(once) and read_metadata(with_metadata(once, info))["name"] == "tiny"


def test_mediapipe_refuses_a_float_image_model_without_metadata(tmp_path):
    """Why the metadata is there: the same file without it is refused by the runtime."""
    _, plain = _tiny_rgb_classifier(tmp_path)
    (tmp_path / "plain.tflite").write_bytes(plain)
    with pytest.raises(Exception, match="NormalizationOptions"):
        image_scores(tmp_path / "plain.tflite", np.zeros((1, 8, 8, 3), np.uint8))


def test_grayscale_models_take_rgb_frames_by_luma():
    import keras

    from solutions.common.edge import LUMA, rgb_input_model

    gray = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    frames = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    out = np.asarray(rgb_input_model(gray)(frames))
    np.testing.assert_allclose(out, (frames @ np.asarray(LUMA, np.float32)).reshape(2, -1), rtol=1e-5)


def test_the_uint8_edge_model_takes_raw_pixels_even_from_dark_data(tmp_path):
    """A device feeds uint8 pixels as they are: the input must be quantized with scale 1 and zero
    point 0 even when the training images never reach 0 or 255."""
    from solutions.common.edge import UINT8_PIXELS, image_edge_models
    from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch

    model, _ = _tiny_rgb_classifier(tmp_path)
    dark = np.random.default_rng(0).uniform(20, 60, (16, 8, 8, 3)).astype(np.float32)
    edge = image_edge_models(model, dark, model.predict(dark, verbose=0), dark, ["edge", "edge_uint8"])[1]
    content = convert_tflite(export_fixed_batch(edge.model, tmp_path / "e", batch=1), "int8", edge.representative,
                             integer_io="uint8")
    runner = TFLiteRunner(content)
    assert runner.input["dtype"] == np.uint8 and tuple(runner.input["quantization"]) == UINT8_PIXELS


def test_a_screen_s_decision_threshold_is_what_mediapipe_s_top_category_gives(tmp_path):
    """A binary screen decides "p1 > t" with its stored threshold; MediaPipe's ImageClassifier reports
    the top class. With t folded into the edge file they are the same decision, p1 = t scores 0.5,
    the scores map back to the probabilities, and the uint8 file decides alike."""
    import keras

    from solutions.common.edge import (decision_scores, folded_threshold, image_edge_models, image_tensor,
                                       model_info, probabilities_from_scores, probabilities_tensor, threshold_to_fold)
    from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch
    from solutions.common.tflite_metadata import with_metadata

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    head = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, head(keras.layers.Dense(8, activation="relu")(x)))
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 30, bias])  # confident on some frames, unsure on others
    rng = np.random.default_rng(0)
    frames = (rng.uniform(0, 1, (64, 1, 1, 3)) * rng.uniform(0, 255, (64, 8, 8, 3))).astype(np.uint8)
    probabilities = np.asarray(model.predict(frames.astype(np.float32), verbose=0))
    threshold = float(np.quantile(probabilities[:, 1], 0.3))
    decision = probabilities[:, 1] >= threshold  # the run's rule (`calibration.decide`)
    assert np.sum(decision != (probabilities.argmax(1) == 1)) >= 5  # argmax alone would decide otherwise

    np.testing.assert_allclose(decision_scores(np.array([[1 - threshold, threshold]]), threshold), [[0.5, 0.5]], atol=1e-6)
    np.testing.assert_allclose(probabilities_from_scores(decision_scores(probabilities, threshold), threshold),
                               probabilities, atol=1e-6)
    edges = image_edge_models(model, frames.astype(np.float32), probabilities, frames.astype(np.float32),
                              ["edge", "edge_uint8"], threshold)
    folded = threshold_to_fold(threshold)
    assert all(e.decision_threshold == folded for e in edges) and folded < threshold
    np.testing.assert_allclose(edges[0].reference, decision_scores(probabilities, folded), atol=1e-6)
    source = export_fixed_batch(edges[0].model, tmp_path / "e", batch=1)
    info = model_info("screen", "two classes", "run-1", [image_tensor(8, 8, 3)],
                      [probabilities_tensor(["normal", "pneumonia"], threshold=folded)])
    # uint8 scores step by 1/256: a decision within a few steps of 0.5 may tie (the first class wins)
    clear = np.abs(decision_scores(probabilities, folded)[:, 1] - 0.5) > 3 / 256
    assert clear.sum() >= 32
    for quantize, io, kept in (("float32", None, slice(None)), ("int8", "uint8", clear)):
        content = with_metadata(convert_tflite(source, quantize, edges[-1].representative, integer_io=io), info)
        path = tmp_path / f"{quantize}.tflite"
        path.write_bytes(content)
        scores = image_scores(path, frames)  # what a phone's app reads
        assert np.array_equal((scores.argmax(1) == 1)[kept], decision[kept]), quantize
        if quantize == "float32":
            np.testing.assert_allclose(scores, TFLiteRunner(content)(frames.astype(np.float32)), atol=1e-5)
            np.testing.assert_allclose(probabilities_from_scores(scores, folded), probabilities, atol=1e-5)
    assert folded_threshold(content) == folded  # `predict --variant edge` reads it from the file


def test_the_edge_file_says_itself_that_its_decision_is_folded(tmp_path):
    """`predict --variant edge` reads the fold from the file (an interrupted re-export cannot leave
    metrics.json saying otherwise); an older file, or one without a fold, is probabilities."""
    from solutions.common.edge import folded_threshold, image_tensor, model_info, probabilities_tensor, threshold_to_fold
    from solutions.common.tflite_metadata import with_metadata

    _, plain = _tiny_rgb_classifier(tmp_path)
    def described(threshold):
        outputs = [probabilities_tensor(["normal", "pneumonia", "other"], threshold=threshold)]
        return with_metadata(plain, model_info("m", "d", "1", [image_tensor(8, 8, 3)], outputs))

    assert folded_threshold(plain) is None and folded_threshold(described(None)) is None
    assert folded_threshold(described(0.3816086351871490)) == 0.3816086351871490
    assert threshold_to_fold(None) is None and threshold_to_fold(1.0) is None and threshold_to_fold(0.0) is None
    assert np.float32(threshold_to_fold(0.25)) < np.float32(0.25)  # the run decides p >= t; a tie goes to class 0


# A 12-epoch digits run (real 8x8 digits; the default's 40 epochs are checked by the slow suite's
# default run) and a short PneumoniaMNIST run (real chest X-rays): both grayscale, so the RGB edge
# files make gray inside their graph. No float16/dynamic files.
IMAGE_RUNS = {
    "digits": (None, ["image-classification", "--epochs", "12"], 270),
    "pneumonia": ("medmnist/pneumoniamnist.npz", ["medical-imaging", "--epochs", "2", "--width", "16"], 624),
}


# PneumoniaMNIST runs with the slow suite and CI's part of it (make test-ci-slow); the fast suite's
# contract run still exports and checks the medical edge files.
@pytest.mark.parametrize("dataset", ["digits", pytest.param("pneumonia", marks=[pytest.mark.slow, pytest.mark.ci])])
def test_image_edge_models_run_in_mediapipe(dataset, tmp_path):
    """Both edge files load in MediaPipe's ImageClassifier unchanged, agree with Keras on the test
    images and score exactly as the kit's own TFLite run of the same file."""
    needs, args, test_size = IMAGE_RUNS[dataset]
    if needs:
        require_data(needs)
    done = run_cli("train", *args, "--quantize", "int8", "--output", str(tmp_path / dataset))
    assert done.returncode == 0, done.stderr
    figures = check_image_edge(tmp_path / dataset)
    print(figures)
    assert figures["test_images"] == test_size


def test_sentiment_edge_model_runs_in_mediapipe(tmp_path):
    """rt-polarity fold 1: MediaPipe's TextClassifier on the raw test sentences, through the regex
    tokenizer and vocabulary in the file's metadata, within 2 points of the default model."""
    require_data("rt-polaritydata/rt-polarity.pos")
    out = tmp_path / "sentiment"
    done = run_cli("train", "sentiment", "--quantize", "none", "--output", str(out))
    assert done.returncode == 0, done.stderr
    figures = check_text_edge(out)
    print(figures)
    assert figures["test_texts"] == 1600
    answer = run_cli("predict", str(out), "a gorgeous, moving film", "--tflite", "--variant", "edge")
    assert answer.returncode == 0 and "gorgeous" in answer.stdout, answer.stderr
