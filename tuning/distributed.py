"""KerasTuner's own distributed search (`--oracle HOST:PORT --role chief|worker`), with the exits
the stock one lacks: the chief stops serving once the trial budget is spent and no trial is
running (KerasTuner's loop can wait forever for a worker that never asks again, keras-tuner#344);
a worker sends the chief a heartbeat every HEARTBEAT_SECONDS while it searches, and the trial of a
worker not heard from for WORKER_TIMEOUT_SECONDS (killed, machine lost) counts as failed, so the
others take the remaining trials and the search ends; and a worker whose chief has gone exits
instead of waiting an hour on its RPC (#645)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from solutions.common.errors import UserError

TOKEN_ENV = "SOLUTIONS_TUNER_TOKEN"
TOKEN_FILE = ".tuner-token"  # in the search directory, mode 0600: what workers sharing it read
TOKEN_HEADER = "x-solutions-tuner-token"
TUNER_HEADER = "x-solutions-tuner-id"


def token(search_dir: Path | None = None) -> str | None:
    """The shared token: $SOLUTIONS_TUNER_TOKEN, else the one the chief left in the search directory."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    path = search_dir / TOKEN_FILE if search_dir else None
    return path.read_text().strip() or None if path and path.is_file() else None


def ensure_token(search_dir: Path) -> str:
    """The chief's token: the environment's, else a random one written (0600) for the workers that
    share the search directory, so that no other user of this machine can join or report."""
    existing = token(search_dir)
    if existing:
        return existing
    value = secrets.token_urlsafe(32)
    tmp = search_dir / f".{TOKEN_FILE}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    os.replace(tmp, search_dir / TOKEN_FILE)
    return value


def wait_for_token(search_dir: Path, timeout: float = 600.0) -> str:
    """A worker started before its chief waits for the chief's token (as it waits for the chief)."""
    deadline = time.monotonic() + timeout
    while (value := token(search_dir)) is None:
        if time.monotonic() > deadline:
            raise UserError(f"no {TOKEN_ENV} and no {search_dir / TOKEN_FILE} from a chief within {timeout:.0f} s")
        time.sleep(0.5)
    return value


def is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    except (socket.gaierror, ValueError):
        return False


def check_chief_address(host: str) -> None:
    """Loopback needs nothing; any other address needs the shared token, and is warned about."""
    if is_loopback(host):
        return
    if not token():
        raise UserError(f"the chief would listen on {host}, reachable from other machines, without a token: "
                        f"set {TOKEN_ENV} to a shared secret on the chief and every worker "
                        "(or use 127.0.0.1 for a search on this machine)")
    print(f"WARNING: the tuning chief listens on {host}: workers must present {TOKEN_ENV}; gRPC here is "
          "not encrypted, so use it only on a network you trust", file=sys.stderr, flush=True)


GRACE_SECONDS = 60  # after the budget is spent, how long the chief waits for idle workers to ask again
HEARTBEAT_SECONDS = 15.0  # how often a searching worker tells the chief it is alive
WORKER_TIMEOUT_SECONDS = 300.0  # a worker silent this long has its running trial counted as failed


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--oracle {address!r}: give HOST:PORT, e.g. 127.0.0.1:8000")
    if not 1 <= int(port) <= 65535:
        raise UserError(f"--oracle {address!r}: the port must be between 1 and 65535")
    return host, int(port)


KERASTUNER_VARIABLES = ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID")


@contextlib.contextmanager
def configured(address: str | None, role: str | None, worker_id: str | None) -> Iterator[None]:
    """KerasTuner's environment for one search, as it was afterwards: left set in a notebook, the
    next plain `tune()` ran as a chief of KerasTuner's own, serving the oracle without a token."""
    saved = {name: os.environ.get(name) for name in KERASTUNER_VARIABLES}
    try:
        if role:
            configure(address, role, worker_id)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def configure(address: str, role: str, worker_id: str | None) -> str:
    """Set KerasTuner's environment for this process; returns its tuner id."""
    host, port = parse_address(address)
    if role == "chief":
        tuner_id = "chief"
    else:
        tuner_id = worker_id or f"worker-{socket.gethostname()}-{os.getpid()}"
        if "chief" in tuner_id:
            raise UserError(f"--worker-id {tuner_id!r}: a worker's id must not contain 'chief'")
    os.environ.update({"KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port),
                       "KERASTUNER_TUNER_ID": tuner_id})
    return tuner_id


def _budget_spent(oracle) -> bool:
    if not oracle.max_trials:
        return False
    ended = [t for t in oracle.trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID")]
    return len(ended) >= oracle.max_trials


def serve(oracle, address: str, search_dir: Path, *, grace: float = GRACE_SECONDS,
          worker_timeout: float = WORKER_TIMEOUT_SECONDS) -> None:
    """Serve the oracle to workers until the search is done, then return (the chief goes on to
    tabulate and retrain). A running trial whose worker is silent for over `worker_timeout`
    seconds is ended as failed: a worker killed mid-trial never reports it, and the chief waited."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos

    from solutions.tuning.guard import GuardedOracleServicer

    host, port = parse_address(address)
    check_chief_address(host)
    # the oracle's methods are synchronized; no SO_REUSEPORT (gRPC's default): a second chief on the
    # same port must fail here, not share the workers' connections with the first
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    servicer = GuardedOracleServicer(oracle, ensure_token(search_dir))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:  # grpc returns 0 when it cannot bind, newer releases raise RuntimeError
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise UserError(f"the chief cannot listen on {host}:{port} (in use, or not this machine's address)")
    server.start()
    print(f"Chief: oracle serving on {host}:{port}; start workers with --oracle {address} --role worker", flush=True)
    done_since = None
    try:
        while True:
            time.sleep(0.5)
            _fail_silent_trials(servicer, worker_timeout)
            if not (servicer.stop_triggered or _budget_spent(oracle)) or oracle.ongoing_trials:
                continue
            if not oracle.tuner_ids:
                break
            done_since = done_since or time.monotonic()
            if time.monotonic() - done_since > grace:
                print(f"Chief: the search is done; workers {sorted(oracle.tuner_ids)} did not ask again "
                      f"within {grace:.0f} s", flush=True)
                break
    finally:
        server.stop(grace=2)


def _fail_silent_trials(servicer, worker_timeout: float) -> None:
    for tuner_id, trial_id, silent in servicer.fail_silent_trials(worker_timeout):
        print(f"Chief: worker {tuner_id} not heard from for {silent:.0f} s; its trial {trial_id} is counted as failed",
              flush=True)
    if servicer.stopped:  # KerasTuner's limit of failed trials in a row: its oracle ends no trial any more
        raise UserError(f"the search stopped: {servicer.stopped} (each trial's error is in its worker's output); "
                        "fix the cause and start a new search with another --output")


def _beat(beat: Callable[[], None], interval: float, stop: threading.Event) -> None:
    """Call `beat` every `interval` seconds until stopped; a failure is left to the port check."""
    while True:
        try:
            beat()
        except Exception:  # noqa: BLE001  (a chief that is gone: the port watch ends the worker)
            pass
        if stop.wait(interval):
            return


@contextlib.contextmanager
def chief_watch(address: str, *, interval: float = 2.0, misses: int = 3, startup: float = 600.0,
                heartbeat: Callable[[], None] | None = None,
                heartbeat_interval: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """While the body runs, check the chief's port; once it was reachable, `misses` failed
    checks in a row end this worker (exit status 3), as does no chief within `startup` seconds.
    Meanwhile send the chief `heartbeat` (`guard.heartbeat` of the worker's own client) every
    `heartbeat_interval` seconds, on a thread of its own: training runs in a child process, so a
    worker in a long epoch still beats and is not taken for dead."""
    host, port = parse_address(address)
    stop = threading.Event()
    if heartbeat is not None:
        threading.Thread(target=_beat, args=(heartbeat, heartbeat_interval, stop), name="chief-heartbeat",
                         daemon=True).start()

    def reachable() -> bool:
        try:
            with socket.create_connection((host, port), timeout=interval):
                return True
        except OSError:
            return False

    def watch() -> None:
        seen, failed, start = False, 0, time.monotonic()
        while not stop.wait(interval):
            if reachable():
                seen, failed = True, 0
                continue
            failed += 1
            if (seen and failed >= misses) or (not seen and time.monotonic() - start > startup):
                what = "is gone" if seen else f"did not answer within {startup:.0f} s"
                print(f"error: the tuning chief at {address} {what}; this worker stops", file=sys.stderr, flush=True)
                os._exit(3)

    thread = threading.Thread(target=watch, name="chief-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
