import numpy as np
import pytest

from solutions.common.errors import ExportError
from solutions.common.export import SavedModelRunner, TFLiteRunner, convert_tflite, export_saved_model, tf

import keras

from tests.conftest import tiny_image_classifier


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory):
    model = tiny_image_classifier(1)
    path = export_saved_model(model, tmp_path_factory.mktemp("sm") / "saved_model")
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1)).astype(np.float32)
    return model, path, x


def test_saved_model_matches_keras(small_model_dir):
    model, path, x = small_model_dir
    np.testing.assert_allclose(SavedModelRunner(path)(x), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("variant, atol", [("float32", 1e-5), ("float16", 5e-3), ("dynamic", 5e-2), ("int8", 6e-2)])
def test_tflite_variants_run_builtin_only(small_model_dir, variant, atol):
    model, path, x = small_model_dir
    content = convert_tflite(path, variant, representative=x[:20])
    runner = TFLiteRunner(content)
    assert not [op for op in runner.op_names() if "flex" in op.lower()]
    out = runner(x)
    assert out.shape == (40, 3)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=atol)
    if variant == "int8":
        assert runner.input["dtype"] == np.int8
    assert runner.latency_ms(x[:1], repeats=5) > 0


def test_flex_ops_fail_by_name(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: tf.linalg.svd(x, compute_uv=False),
                           input_signature=[tf.TensorSpec([None, 4, 4], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.f})
    with pytest.raises(ExportError, match="Svd"):
        convert_tflite(tmp_path / "sm", "float32")


def test_int8_needs_representative_data(small_model_dir):
    with pytest.raises(ExportError, match="representative"):
        convert_tflite(small_model_dir[1], "int8")


def test_quantize_option_maps_to_variants():
    from solutions.common.export import tflite_variants

    assert tflite_variants("none") == ["float32"]
    assert tflite_variants("int8") == ["float32", "int8"]
    assert tflite_variants("all") == ["float32", "float16", "dynamic", "int8"]


def test_isolated_conversion_returns_the_same_model(small_model_dir):
    from solutions.common.export import convert_tflite_isolated

    model, path, x = small_model_dir
    content = convert_tflite_isolated(path, "float32")
    np.testing.assert_allclose(TFLiteRunner(content)(x), model.predict(x, verbose=0), atol=1e-5)


def test_isolated_conversion_turns_a_converter_crash_into_an_export_error(tmp_path):
    """int8 on a GRU kills the converter process (tensorflow/tensorflow#76672); the run must survive
    it and record why."""
    from solutions.common.export import convert_tflite_isolated, export_fixed_batch, tflite_batch

    inputs = keras.Input((6, 3))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GRU(4)(inputs)))
    assert tflite_batch(model) == 1
    source = export_fixed_batch(model, tmp_path / "sm", batch=1)
    samples = np.random.default_rng(0).normal(size=(20, 6, 3)).astype(np.float32)
    try:
        content = convert_tflite_isolated(source, "int8", samples)
    except ExportError as exc:
        assert "crashed" in str(exc) or "conversion failed" in str(exc) or "not TFLite builtins" in str(exc)
    else:  # a converter that has fixed the bug gives a working int8 model instead
        assert TFLiteRunner(content)(samples[:1]).shape == (1, 1)


def test_float_parity_allows_rounding_and_refuses_a_wrong_file():
    from solutions.common.export import check_float_parity

    reference = np.array([[0.2, 0.8], [4.0, -5.0]], np.float32)
    assert check_float_parity("x", reference + 1e-6, reference) == pytest.approx(1e-6, rel=0.1)
    assert check_float_parity("x", reference + 4e-3, reference) > 0  # within 1e-3 of the outputs' scale (5)
    with pytest.raises(ExportError, match=r"TFLite float32 disagrees .*max \|diff\| 0.01.*allows 0.005"):
        check_float_parity("TFLite float32", reference + 0.01, reference)
    with pytest.raises(ExportError, match="nan"):
        check_float_parity("x", np.full_like(reference, np.nan), reference)
    with pytest.raises(ExportError, match="inf"):
        check_float_parity("x", reference[:1], reference)  # a different shape is not the same answer


def test_a_quantized_file_that_lost_its_score_is_refused():
    """A conv1d volatility model's int8 file scored QLIKE 6.5e9 against Keras' 0.73, and shipped."""
    from solutions.common.export import check_quantized_score

    check_quantized_score("TFLite int8", "qlike", 0.78, 0.73, lower_is_better=True)  # within 10%
    check_quantized_score("TFLite int8", "accuracy", 0.965, 0.99, lower_is_better=False)
    check_quantized_score("TFLite int8", "recall_at_10", 0.01, 0.025, lower_is_better=False)  # within 0.02
    with pytest.raises(ExportError, match=r"TFLite int8 scores test qlike 6.476e\+09 against the Keras model's 0.7295"):
        check_quantized_score("TFLite int8", "qlike", 6476102355.3, 0.7295, lower_is_better=True)
    with pytest.raises(ExportError, match="lost more than 10%"):
        check_quantized_score("TFLite dynamic", "auc", 0.85, 0.98, lower_is_better=False)
    with pytest.raises(ExportError, match="nan"):
        check_quantized_score("TFLite float16", "rmse", float("nan"), 0.9, lower_is_better=True)
    check_quantized_score("TFLite int8", "rmse", 5.0, float("nan"), lower_is_better=True)  # nothing to compare with
