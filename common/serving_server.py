"""`solutions serve`: a run's TF Serving directory behind TensorFlow Serving's REST API, on aiohttp.

Endpoints (TF Serving's, `api_rest.md`): `GET /v1/models/<name>[/versions/<v>]` (status),
`GET .../metadata` (signatures), `POST .../<name>[/versions/<v>]:predict` (row or columnar JSON,
`signature_name` to choose a signature). Errors are `{"error": message}`: 400 for a request the
model cannot take, 404 for an unknown model, version or path (as TF Serving), 413 for a body over
the limit, 500 for a fault of ours (logged).

Requests for the same signature and row shape that arrive while the model is busy are answered
by one call (micro-batching: no added wait when idle, bigger batches under load); a batch that
fails is re-run request by request, so one bad image costs only its own request. The model runs
on one thread (TensorFlow uses every core inside a call); the event loop parses, checks and
answers. One log line per request; SIGTERM and Ctrl-C stop accepting, finish what is in flight
and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from solutions.common.errors import UserError
from solutions.common.serving_export import DEFAULT_SIGNATURE, SERVING_DIR, LoadedServable
from solutions.common.serving_rest import RequestError, check_images, dumps, parse_json, predict_inputs, predict_response

log = logging.getLogger("solutions.serve")

DEFAULT_MAX_REQUEST_MB = 10
DEFAULT_BATCH_ROWS = 64
# /v1/models/<name>[/versions/<n> | /labels/<l>][:<verb> | /metadata]
ROUTE = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                   r"(?::(?P<verb>[A-Za-z]+)|/(?P<metadata>metadata))?$")


def find_servable(run_path: Path) -> tuple[str, int, Path]:
    """(model name, version, directory) of the highest version under `<run>/serving/<name>/`."""
    base = Path(run_path) / SERVING_DIR
    found = sorted((int(v.name), m.name, v) for m in base.glob("*") if m.is_dir() and not m.name.startswith(".")
                   for v in m.iterdir() if v.is_dir() and v.name.isdigit() and (v / "saved_model.pb").exists())
    if not found:
        raise UserError(f"{run_path} has no TF Serving directory ({base}/<name>/<version>/); write it with: "
                        f"solutions export {run_path} --format serving")
    version, name, path = found[-1]
    return name, version, path


class Batcher:
    """One model call for the requests of the same signature and row shape that queued while the
    model was busy (up to `max_rows` rows); others run alone."""

    def __init__(self, servable: LoadedServable, max_rows: int = DEFAULT_BATCH_ROWS):
        self.servable = servable
        self.max_rows = max_rows
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._pending: dict[tuple, list] = {}
        self._draining: set[tuple] = set()
        self._tasks: set[asyncio.Task] = set()
        self.calls = 0
        self.rows = 0

    async def call(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = {value.shape[0] if value.ndim else None for value in inputs.values()}
        specs = self.servable.inputs[signature]
        if len(rows) != 1 or None in rows or not all(s.batched for s in specs):
            return await self._run(signature, inputs)  # scalar inputs (e.g. k): not batched
        key = (signature, tuple((name, value.shape[1:], value.dtype.str) for name, value in sorted(inputs.items())))
        future = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((inputs, rows.pop(), future))
        if key not in self._draining:
            self._draining.add(key)
            task = asyncio.get_running_loop().create_task(self._drain(key))
            self._tasks.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: tuple) -> None:
        taken: list = []
        try:
            while self._pending.get(key):
                queue, taken, count = self._pending[key], [], 0
                while queue and (not taken or count + queue[0][1] <= self.max_rows):
                    taken.append(queue.pop(0))
                    count += taken[-1][1]
                await self._serve(key[0], taken, count)
        except BaseException as exc:  # never leave a request waiting: it gets the error
            for _, _, future in taken + self._pending.get(key, []):
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("the server is stopping"))
            self._pending.pop(key, None)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._draining.discard(key)
            if not self._pending.get(key):
                self._pending.pop(key, None)

    async def _serve(self, signature: str, taken: list, count: int) -> None:
        if len(taken) > 1:
            merged = {name: np.concatenate([t[0][name] for t in taken]) for name in taken[0][0]}
            try:
                out = await self._run(signature, merged)
            except Exception:  # noqa: BLE001 - a bad request in the batch (or a batch too big): each runs
                out = None     # alone, so only what fails alone fails
            if out is not None and all(np.ndim(v) and np.shape(v)[0] == count for v in out.values()):
                start = 0
                for _, n, future in taken:
                    if not future.done():
                        future.set_result({name: value[start:start + n] for name, value in out.items()})
                    start += n
                return
        for inputs, _, future in taken:
            try:
                result = await self._run(signature, inputs)
            except Exception as exc:  # noqa: BLE001 - handed to the request that caused it
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    async def _run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(self.executor, self.servable.call, signature, inputs)
        except Exception as exc:
            raise model_error(exc) from None
        self.calls += 1
        self.rows += next(iter(inputs.values())).shape[0] if inputs and next(iter(inputs.values())).ndim else 1
        return out

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def model_error(exc: Exception) -> Exception:
    """TensorFlow's error for a bad input (a file that does not decode, an unknown id) as a 400
    with its message, without the graph's node names; anything else stays a fault of ours."""
    import tensorflow as tf

    if isinstance(exc, (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError, tf.errors.FailedPreconditionError)):
        text = re.sub(r"\[\[\s*\{\{node [^}]*\}\}\s*\]\]|\{\{function_node [^}]*\}\}|\[Op:[^\]]*\]", " ", exc.message)
        text = re.sub(r"assertion failed: \[([^\]]*)\]", r"\1", text)  # tf.debugging.Assert's message
        lines = [line.strip() for line in text.splitlines()
                 if line.strip() and not line.strip().startswith(("Detected at node", "Graph execution error"))]
        return RequestError(" ".join(lines)[:500] or "the model refused the input")
    return exc


class ModelServer:
    """The aiohttp application for one servable under `name`."""

    def __init__(self, servable: LoadedServable, name: str, version: int, *,
                 max_request_mb: float = DEFAULT_MAX_REQUEST_MB, batch_rows: int = DEFAULT_BATCH_ROWS):
        self.servable, self.name, self.version = servable, name, version
        self.max_bytes = int(max_request_mb * 2**20)
        self.batcher = Batcher(servable, batch_rows)
        self.metadata = servable.metadata()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_bytes, middlewares=[self._errors])
        app.router.add_get("/v1/models/{path:.+}", self._get)
        app.router.add_post("/v1/models/{path:.+}", self._post)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app) -> None:
        log.info("stopping: %d model calls answered %d rows", self.batcher.calls, self.batcher.rows)

    def _route(self, request) -> dict[str, Any]:
        match = ROUTE.match(request.match_info["path"])
        if not match:
            raise RequestError(f"no such endpoint: {request.path}", 404)
        route = match.groupdict()
        if route["name"] != self.name:
            raise RequestError(f"Servable not found for request: Latest({route['name']}); this server has "
                               f"{self.name!r}", 404)
        if route["version"] is not None and _version_number(route["version"]) != self.version:  # "01" is 1
            raise RequestError(f"Servable not found for request: Specific({route['name']}, {route['version']}); "
                               f"this server has version {self.version}", 404)
        if route["label"] is not None:
            raise RequestError(f"no version label {route['label']!r}: address the model by name or "
                               f"/versions/{self.version}", 404)
        return route

    async def _get(self, request):
        route = self._route(request)
        if route["verb"]:
            raise RequestError(f":{route['verb']} takes POST", 405)
        if route["metadata"]:
            return self._json({"model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
                               "metadata": self.metadata})
        return self._json({"model_version_status": [{"version": str(self.version), "state": "AVAILABLE",
                                                      "status": {"error_code": "OK", "error_message": ""}}]})

    async def _post(self, request):
        route = self._route(request)
        if route["verb"] != "predict":
            what = f":{route['verb']}" if route["verb"] else "a POST without a verb"
            raise RequestError(f"{what} is not served: the kit's signatures are predict signatures; "
                               f"POST /v1/models/{self.name}:predict", 400 if route["verb"] else 405)
        body = await request.read()
        payload = parse_json(body)
        signature = payload.get("signature_name", "") if isinstance(payload, dict) else ""
        if not isinstance(signature, str):
            raise RequestError("'signature_name' must be a string")
        signature = signature or DEFAULT_SIGNATURE
        if signature not in self.servable.signatures:
            raise RequestError(f'Serving signature name: "{signature}" not found in signature def; this model has '
                               f"{', '.join(sorted(self.servable.signatures))}")
        inputs, rows = predict_inputs(payload, self.servable.inputs[signature])
        for name, value in inputs.items():
            if name.endswith("image_bytes"):
                check_images(value, name)
        out = await self.batcher.call(signature, inputs)
        n_rows = next(iter(inputs.values())).shape[0] if rows else None
        return self._json(predict_response(out, rows, n_rows))

    def _json(self, payload: Any, status: int = 200):
        return web.Response(text=dumps(payload), status=status, content_type="application/json")

    @property
    def _errors(self):
        @web.middleware
        async def errors(request, handler):
            try:
                return await handler(request)
            except RequestError as exc:
                return self._json({"error": str(exc)}, exc.status)
            except web.HTTPRequestEntityTooLarge:
                return self._json({"error": f"the request body is over {self.max_bytes / 2**20:g} MiB (serve "
                                            "--max-request-mb raises the limit)"}, 413)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                return self._json({"error": exc.reason}, exc.status)
            except asyncio.CancelledError:
                raise
            except Exception:  # a fault of ours: logged in full, answered without internals
                log.exception("request %s %s failed", request.method, request.path)
                return self._json({"error": "internal server error (see the server's log)"}, 500)

        return errors

    def close(self) -> None:
        self.batcher.close()


class BackgroundServer:
    """The server on a thread of this process (a notebook, a test): `url`, `stop()`, and a
    context manager. Port 0 picks a free port."""

    def __init__(self, server: ModelServer, host: str = "127.0.0.1", port: int = 0):
        import threading

        self.server = server
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(server.app(), access_log_format=ACCESS_LOG)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._runner.setup())
                self._loop.run_until_complete(web.TCPSite(self._runner, host, port).start())
                self.port = self._runner.addresses[0][1]  # the one chosen for port 0
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="solutions-serve", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._loop.close()
            server.close()
            raise failure[0]
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{self.port}/v1/models/{server.name}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self.server.close()

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def load_server(run_path: str | Path, name: str | None = None, **options) -> ModelServer:
    """A ModelServer for a finished run's highest serving version."""
    from solutions.common.rundir import open_finished

    run = open_finished(str(run_path))
    folder_name, version, path = find_servable(run.path)
    name = name or folder_name
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UserError(f"model name {name!r}: use letters, digits, '_', '-' or '.'")
    return ModelServer(LoadedServable(path), name, version, **options)


ACCESS_LOG = '%a "%r" %s %b %Tfs'


def serve(run_path: str | Path, *, host: str = "127.0.0.1", port: int = 8501, name: str | None = None,
          max_request_mb: float = DEFAULT_MAX_REQUEST_MB, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
    """Serve a finished run until SIGTERM or Ctrl-C (blocking)."""
    import errno

    server = load_server(run_path, name, max_request_mb=max_request_mb, batch_rows=batch_rows)
    name, version, path = server.name, server.version, server.servable.path
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/v1/models/{name}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: reachable from the network, with no authentication or TLS; put it "
                    "behind a proxy that has them", host)
    log.info("serving %s version %d from %s", name, version, path)
    log.info("signatures: %s", ", ".join(f"{s}({', '.join(i.name for i in specs)})"
                                         for s, specs in sorted(server.servable.inputs.items())))
    log.info("status %s  predict POST %s:predict  metadata %s/metadata", url, url, url)
    started = time.perf_counter()
    try:
        web.run_app(server.app(), host=host, port=port, access_log_format=ACCESS_LOG, shutdown_timeout=10,
                    print=None, handle_signals=True)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use; choose another with --port") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
        raise
    finally:
        server.close()
    log.info("stopped after %.0f s", time.perf_counter() - started)


def _version_number(text: str) -> int | None:
    """A version as TF Serving reads it: an integer ("01" is 1), else no version."""
    return int(text) if text.isascii() and text.isdigit() else None
