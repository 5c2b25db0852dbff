"""`solutions serve` (common/serving_server.py) from the outside: TF Serving's REST endpoints over
plain HTTP (tests/serving_clients.py), bad requests, concurrency, micro-batching, SIGTERM."""

import asyncio
import base64
import io
import json
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.common.serving_rest import InputSpec, RequestError
from benchmarks.bench_serve import free_port
from tests.conftest import ROOT, tiny_image_classifier
from tests.serving_clients import predict, request


def png(pixels: np.ndarray) -> dict:
    """One image [H, W] or [H, W, C] as a client sends it."""
    from solutions.common.serving_export import png_instances

    return png_instances(pixels[None] if pixels.ndim == 3 else pixels[None, ..., None])[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny image classifier behind the server: image files, pixels and labels signatures."""
    from solutions.common.serving_export import (Endpoint, LoadedServable, ServingModel, decode_images,
                                                 label_outputs, model_endpoint, tf, write_serving)
    from solutions.common.serving_server import BackgroundServer, ModelServer

    model = tiny_image_classifier(3)
    files = (tf.TensorSpec([None], tf.string, name="image_bytes"),)

    def probabilities(image_bytes):
        return model(decode_images(image_bytes, 8, 8, 3), training=False)

    path = tmp_path_factory.mktemp("serving") / "tiny" / "1"
    write_serving(ServingModel((
        Endpoint("serving_default", lambda image_bytes: {"probabilities": probabilities(image_bytes)}, files),
        model_endpoint(model, "serve", "probabilities"),
        Endpoint("labels", lambda image_bytes: label_outputs(probabilities(image_bytes), ["a", "b", "c"]), files),
    ), track=(model,)), path)
    pixels = np.random.default_rng(0).integers(0, 256, (24, 8, 8, 3)).astype(np.float32)
    server = BackgroundServer(ModelServer(LoadedServable(path), "tiny", 1, max_request_mb=1))
    yield server, model, pixels
    server.stop()


def test_status_metadata_and_predictions_match_the_model(served):
    server, model, pixels = served
    expected = model.predict(pixels, verbose=0)
    assert request(server.url) == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    status, meta = request(server.url + "/versions/1/metadata")
    default = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert status == 200 and meta["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    assert default["inputs"]["image_bytes"]["dtype"] == "DT_STRING" and "probabilities" in default["outputs"]
    files = [png(p) for p in pixels]
    rows = predict(server.url, {"instances": files})["predictions"]
    np.testing.assert_allclose(rows, expected, atol=1e-5)
    columns = predict(server.url + "/versions/1", {"inputs": {"image_bytes": files[:3]}})["outputs"]
    np.testing.assert_allclose(columns, expected[:3], atol=1e-5)
    assert request(server.url + "/versions/01")[0] == 200  # TF Serving reads the version as an integer
    pixel_rows = predict(server.url, {"signature_name": "serve", "instances": pixels[:2].tolist()})["predictions"]
    np.testing.assert_allclose(pixel_rows, expected[:2], atol=1e-5)
    labels = predict(server.url, {"signature_name": "labels", "instances": files[:4]})["predictions"]
    assert [r["label"] for r in labels] == [["a", "b", "c"][i] for i in expected[:4].argmax(1)]


def test_any_image_size_and_format_is_decoded_and_resized(served):
    from PIL import Image

    server, model, _ = served
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 30, 3)).astype(np.uint8))
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG")
    answer = predict(server.url, {"instances": [{"b64": base64.b64encode(buffer.getvalue()).decode()}]})
    assert np.asarray(answer["predictions"]).shape == (1, 3) and abs(sum(answer["predictions"][0]) - 1) < 1e-5


def test_a_phone_photo_is_classified_upright_through_the_saved_signature(served):
    """A portrait photo stored sideways with EXIF orientation 6 (as phones write them) is read by
    the saved serving signature as a viewer shows it, not as stored."""
    from tests.conftest import with_exif_orientation

    server, model, pixels = served
    stored = pixels[5].astype(np.uint8)
    photo = {"b64": base64.b64encode(with_exif_orientation(stored, "PNG", 6, "II")).decode()}
    answer = np.asarray(predict(server.url, {"instances": [photo]})["predictions"])
    upright = model.predict(np.rot90(stored, -1)[None].astype(np.float32), verbose=0)
    sideways = model.predict(stored[None].astype(np.float32), verbose=0)
    np.testing.assert_allclose(answer, upright, atol=1e-5)
    assert np.abs(upright - sideways).max() > 1e-3  # the test can tell the two apart


def test_bad_requests_get_a_4xx_json_error_and_the_server_goes_on(served):
    server, model, pixels = served
    good = {"instances": [png(pixels[0])]}
    bad = [
        ("invalid JSON", server.url + ":predict", {"raw": b'{"instances": [1,'}, 400, "not valid JSON"),
        ("missing instances", server.url + ":predict", {"body": {"examples": []}}, 400, "Missing 'inputs' or 'instances'"),
        ("wrong dtype", server.url + ":predict", {"body": {"signature_name": "serve", "instances": [[[["x"] * 3] * 8] * 8]}},
         400, "takes float"),
        ("wrong shape", server.url + ":predict", {"body": {"signature_name": "serve", "instances": [[[0.0] * 3] * 8]}},
         400, r"shape \[1, 8, 3\]"),
        ("non-image b64", server.url + ":predict", {"body": {"instances": [{"b64": base64.b64encode(b"hello").decode()}]}},
         400, "not an image"),
        ("truncated image", server.url + ":predict",
         {"body": {"instances": [{"b64": base64.b64encode(base64.b64decode(good["instances"][0]["b64"])[:40]).decode()}]}},
         400, ""),
        ("50 MB body", server.url + ":predict", {"raw": b" " * (50 * 2**20)}, 413, "over 1 MiB"),
        ("unknown model", server.url.replace("/tiny", "/other") + ":predict", {"body": good}, 404, "Servable not found"),
        ("unknown version", server.url + "/versions/7:predict", {"body": good}, 404, "Specific"),
        ("unknown signature", server.url + ":predict", {"body": {**good, "signature_name": "nope"}}, 400, "not found in signature def"),
        ("classify API", server.url + ":classify", {"body": good}, 400, "predict signatures"),
        ("GET on predict", server.url + ":predict", {}, 405, "POST"),
        ("signature_name not a string", server.url + ":predict", {"body": {**good, "signature_name": False}}, 400,
         "must be a string"),
        ("deep nesting", server.url + ":predict", {"raw": b'{"instances": ' + b"[" * 100000 + b"]" * 100000 + b"}"},
         400, "nests"),
        ("unknown path", server.url.replace("/v1/models/tiny", "/v2/x"), {}, 404, ""),
    ]
    for what, url, body, status, message in bad:
        got, answer = request(url, body.get("body"), raw=body.get("raw"))
        assert got == status and isinstance(answer.get("error"), str) and answer["error"], (what, got, answer)
        assert not message or __import__("re").search(message, answer["error"]), (what, answer)
        assert request(server.url + ":predict", good)[0] == 200, f"no answer after {what}"


def test_concurrent_clients_get_their_own_answers_and_a_bad_one_fails_alone(served):
    server, model, pixels = served
    expected = model.predict(pixels, verbose=0)
    bodies = [{"instances": [png(pixels[i % len(pixels)])]} for i in range(96)]
    bodies[37] = {"instances": [{"b64": base64.b64encode(base64.b64decode(bodies[37]["instances"][0]["b64"])[:40]).decode()}]}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: request(server.url + ":predict", b), bodies))
    for i, (status, answer) in enumerate(answers):
        if i == 37:
            assert status == 400 and "error" in answer
        else:
            assert status == 200, answer
            np.testing.assert_allclose(answer["predictions"][0], expected[i % len(pixels)], atol=1e-5)


def test_the_batcher_merges_waiting_requests_and_reruns_a_failed_batch_singly():
    import tensorflow as tf

    from solutions.common.serving_server import Batcher

    class Servable:
        inputs = {"serving_default": [InputSpec("x", np.dtype(np.float32), (None,))]}
        calls: list = []

        def call(self, signature, inputs):
            self.calls.append(len(inputs["x"]))
            if (inputs["x"] < 0).any():
                raise tf.errors.InvalidArgumentError(None, None, "negative value\n\t [[{{node Assert}}]]")
            return {"y": inputs["x"] * 2}

    batcher = Batcher(Servable(), max_rows=64)

    async def scenario():
        good = [batcher.call("serving_default", {"x": np.array([i, i], np.float32)}) for i in range(3)]
        merged = await asyncio.gather(*good)
        mixed = await asyncio.gather(batcher.call("serving_default", {"x": np.array([1.0], np.float32)}),
                                     batcher.call("serving_default", {"x": np.array([-1.0], np.float32)}),
                                     return_exceptions=True)
        return merged, mixed

    merged, mixed = asyncio.run(scenario())
    Servable.call_before = Servable.call

    def fails_merged(self, signature, inputs):  # e.g. out of memory on the bigger merged batch
        if len(inputs["x"]) > 1:
            raise MemoryError("merged batch too big")
        return Servable.call_before(self, signature, inputs)

    Servable.call = fails_merged

    async def merged_fails():
        return await asyncio.gather(*(batcher.call("serving_default", {"x": np.array([i], np.float32)})
                                      for i in range(3)))

    singly = asyncio.run(merged_fails())
    batcher.close()
    assert [s["y"].tolist() for s in singly] == [[0.0], [2.0], [4.0]]
    assert [m["y"].tolist() for m in merged] == [[0, 0], [2, 2], [4, 4]]
    assert Servable.calls[0] == 6  # three requests, one model call
    assert mixed[0]["y"].tolist() == [2.0]
    assert isinstance(mixed[1], RequestError) and str(mixed[1]) == "negative value"


def test_a_run_without_a_serving_directory_is_one_clear_error(tmp_path):
    from solutions.common.serving_server import find_servable

    with pytest.raises(UserError, match="has no TF Serving directory .* solutions export .* --format serving"):
        find_servable(tmp_path)


def test_solutions_serve_binds_to_loopback_logs_each_request_and_stops_on_sigterm(trained_run):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "solutions", "serve", str(trained_run.path), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/v1/models/image_classification"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(url, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        image = np.zeros(json.loads((trained_run.path / "config.json").read_text())["source"]["image_shape"])
        answer = predict(url, {"instances": [png(image[..., 0])]})
        assert len(answer["predictions"][0]) == len((trained_run.path / "labels.txt").read_text().split())
        assert request(url + ":predict", {"instances": []})[0] == 400
        outside = socket.gethostbyname(socket.gethostname())
        if not outside.startswith("127."):
            with pytest.raises(OSError), socket.create_connection((outside, port), timeout=2):
                pass
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    assert server.returncode == 0, out
    assert len([line for line in out.splitlines() if '"POST /v1/models/image_classification:predict' in line]) == 2
    assert "stopped" in out.splitlines()[-1]


def test_a_busy_port_is_one_clear_error(trained_run):
    from solutions.common.serving_server import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UserError, match=r"port \d+ on 127.0.0.1 is in use"):
            serve(trained_run.path, port=taken.getsockname()[1])
