"""TF Serving's REST JSON rules (common/serving_rest.py): what a request may hold and what the
answer looks like, without a model."""

import base64
import io

import numpy as np
import pytest

from solutions.common.serving_rest import (InputSpec, RequestError, check_images, parse_json, predict_inputs,
                                           predict_response)

IMAGE = InputSpec("image_bytes", np.dtype(object), (None,))
PIXELS = InputSpec("pixels", np.dtype(np.float32), (None, 2, 2, 1))
USER, ITEM = InputSpec("user_id", np.dtype(object), (None,)), InputSpec("item_id", np.dtype(object), (None,))
INDEX, K = InputSpec("user", np.dtype(np.int32), (None,)), InputSpec("k", np.dtype(np.int32), ())


def test_row_format_one_input_plain_values_or_named_objects():
    pixels = [[[[0], [1]], [[2], [3]]]] * 3
    for body in ({"instances": pixels}, {"instances": [{"pixels": p} for p in pixels]}):
        inputs, rows = predict_inputs(body, [PIXELS])
        assert rows and inputs["pixels"].shape == (3, 2, 2, 1) and inputs["pixels"].dtype == np.float32


def test_row_format_several_inputs_need_exactly_their_keys():
    inputs, rows = predict_inputs({"instances": [{"user_id": "1", "item_id": "50"}, {"user_id": "2", "item_id": "7"}]},
                                  [ITEM, USER])
    assert rows and list(inputs["user_id"]) == [b"1", b"2"] and list(inputs["item_id"]) == [b"50", b"7"]
    with pytest.raises(RequestError, match=r"instance 1: expected an object with the keys \['item_id', 'user_id'\]"):
        predict_inputs({"instances": [{"user_id": "1", "item_id": "5"}, {"user_id": "2"}]}, [ITEM, USER])


def test_columnar_format_and_scalar_inputs():
    inputs, rows = predict_inputs({"inputs": {"user": [0, 1, 2], "k": 5}}, [INDEX, K])
    assert not rows and inputs["k"].shape == () and inputs["user"].tolist() == [0, 1, 2]
    with pytest.raises(RequestError, match="columnar format"):
        predict_inputs({"instances": [{"user": 0, "k": 5}]}, [INDEX, K])
    with pytest.raises(RequestError, match=r"'inputs' must be an object with the keys \['user', 'k'\]"):
        predict_inputs({"inputs": {"user": [0]}}, [INDEX, K])


def test_b64_values_are_bytes_and_bad_base64_is_named():
    inputs, _ = predict_inputs({"instances": [{"b64": base64.b64encode(b"\x89PNG\x00").decode()}, "text"]}, [IMAGE])
    assert list(inputs["image_bytes"]) == [b"\x89PNG\x00", b"text"]
    with pytest.raises(RequestError, match="not valid base64"):
        predict_inputs({"instances": [{"b64": "%%%"}]}, [IMAGE])
    with pytest.raises(RequestError, match="takes strings"):
        predict_inputs({"instances": [3]}, [IMAGE])


@pytest.mark.parametrize("body, message", [
    ([1], "must be a JSON object"),
    ({"instances": [1], "inputs": [1]}, "both 'instances' and 'inputs'"),
    ({"examples": [1]}, "Missing 'inputs' or 'instances' key"),
    ({"instances": []}, "non-empty list"),
    ({"instances": {"pixels": 1}}, "non-empty list"),
    ({"instances": [[[["a"], [1]], [[2], [3]]]]}, "takes float"),
    ({"instances": [[[[True], [False]], [[True], [True]]]]}, "takes float"),
    ({"instances": [[[[1e39], [1]], [[2], [3]]]]}, "not a finite float"),
    ({"instances": [[[0], [1]]]}, r"shape \[1, 2, 1\]; the signature takes \[batch, 2, 2, 1\]"),
    ({"instances": [[[[0], [1]], [[2]]]]}, "rectangular"),
])
def test_malformed_requests_are_request_errors(body, message):
    with pytest.raises(RequestError, match=message) as error:
        predict_inputs(body, [PIXELS])
    assert error.value.status == 400


def test_integer_inputs_refuse_fractions_booleans_and_overflow():
    assert predict_inputs({"instances": [0, 7]}, [INDEX])[0]["user"].dtype == np.int32
    for bad, message in (([1.5], "fractional"), ([True], "booleans"), ([2**40], "out of the integer"),
                         (["3"], "strings")):
        with pytest.raises(RequestError, match=message):
            predict_inputs({"instances": bad}, [INDEX])


def test_json_errors_are_request_errors():
    with pytest.raises(RequestError, match="not valid JSON"):
        parse_json(b'{"instances": [1,')
    with pytest.raises(RequestError, match="not (valid JSON|UTF-8)"):
        parse_json(b"\xff\xfe{}")


def test_answers_row_and_columnar():
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]], np.float32)
    assert predict_response({"p": probabilities}, True, 2) == {"predictions": [[0.25, 0.75], [1.0, 0.0]]}
    assert predict_response({"p": probabilities}, False) == {"outputs": [[0.25, 0.75], [1.0, 0.0]]}
    labels = np.array([b"cat", b"dog"], dtype=object)
    assert predict_response({"label": labels, "p": probabilities}, True, 2)["predictions"][1] == \
        {"label": "dog", "p": [1.0, 0.0]}
    assert predict_response({"label": labels, "p": probabilities}, False)["outputs"]["label"] == ["cat", "dog"]
    assert predict_response({"thumb_bytes": np.array([b"\x00\xff"], dtype=object)}, True, 1) == \
        {"predictions": [{"b64": "AP8="}]}
    with pytest.raises(RequestError, match="columnar"):
        predict_response({"k": np.array(3)}, True, 1)


def test_image_headers_are_checked_before_the_model(tmp_path):


    from PIL import Image

    def encoded(fmt: str, size=(4, 4)) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", size).save(buffer, format=fmt)
        return buffer.getvalue()

    check_images(np.array([encoded("PNG"), encoded("JPEG"), encoded("BMP"), encoded("GIF")], dtype=object), "image_bytes")
    with pytest.raises(RequestError, match="value 1: not an image"):
        check_images(np.array([encoded("PNG"), b"GIF89a but not really"], dtype=object), "image_bytes")
    with pytest.raises(RequestError, match="a TIFF image; the model decodes PNG, JPEG, GIF, BMP"):
        check_images(np.array([encoded("TIFF")], dtype=object), "image_bytes")
    with pytest.raises(RequestError, match="pixels is over"):
        check_images(np.array([encoded("PNG", (8000, 6000))], dtype=object), "image_bytes")


def test_hostile_shapes_of_json_are_request_errors():
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(RequestError, match="nests too deeply"):
        parse_json(('{"instances": ' + deep + "}").encode())
    nested = "a"
    for _ in range(40):
        nested = [nested]
    with pytest.raises(RequestError, match="nests deeper than 32"):
        predict_inputs({"instances": nested}, [IMAGE])
    with pytest.raises(RequestError, match="got booleans"):
        predict_inputs({"instances": [True, 2]}, [INDEX])
    with pytest.raises(RequestError, match="got booleans"):
        predict_inputs({"instances": [[[[1.5], [True]], [[2], [3]]]]}, [PIXELS])


def test_b64_without_padding_or_with_line_breaks_is_taken():
    data = b"\x89PNG\r\n\x1a\n-some-bytes"
    padded = base64.b64encode(data).decode()
    for text in (padded, padded.rstrip("="), padded[:8] + "\n" + padded[8:]):
        assert predict_inputs({"instances": [{"b64": text}]}, [IMAGE])[0]["image_bytes"][0] == data


def test_the_pixels_of_one_request_are_bounded():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")
    big = buffer.getvalue()
    check_images(np.array([big] * 4, dtype=object), "image_bytes")  # 25 megapixels each, 100 in all
    with pytest.raises(RequestError, match="over 100,000,000 pixels in all") as error:
        check_images(np.array([big] * 5, dtype=object), "image_bytes")
    assert error.value.status == 413
    buffer = io.BytesIO()
    Image.new("L", (6000, 5000)).save(buffer, format="PNG")
    with pytest.raises(RequestError, match="6000x5000 pixels is over the 25,000,000") as error:
        check_images(np.array([buffer.getvalue()], dtype=object), "image_bytes")
    assert error.value.status == 413  # too large, as the README says, not a malformed request
