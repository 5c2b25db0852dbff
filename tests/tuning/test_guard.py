"""The chief's oracle refuses forged clients: no token, a trial it never handed out, hyperparameters
outside what it handed out (so outside the space), a changed space; the search's best is unaffected.
A chief on a non-loopback address without a token refuses to start. A worker that goes silent
mid-trial has its trial counted as failed and the search finishes; one that sends heartbeats does not."""

from __future__ import annotations

import re
import socket
from concurrent import futures

import grpc
import pytest

from solutions.common.errors import UserError

TOKEN = "s3cret-shared-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _oracle(tmp_path, max_trials: int = 10):
    import keras_tuner

    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("val_loss", "min"),
                                                    max_trials=max_trials, seed=1)
    oracle._set_project_dir(str(tmp_path), "search")
    hp = keras_tuner.HyperParameters()
    hp.Choice("width", [16, 32, 48])
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    oracle.update_space(hp)
    return oracle


@pytest.fixture
def guarded(tmp_path):
    from keras_tuner.src import protos

    from solutions.tuning.guard import GuardedOracleServicer

    oracle = _oracle(tmp_path)
    servicer = GuardedOracleServicer(oracle, TOKEN)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"127.0.0.1:{_free_port()}"
    server.add_insecure_port(address)
    server.start()
    yield oracle, address, servicer
    server.stop(grace=0)


@pytest.fixture
def chief(guarded):
    return guarded[:2]


def _stub(address: str, token: str | None, tuner_id: str = "forger"):
    from keras_tuner.src import protos

    from solutions.tuning.guard import _TokenInterceptor

    channel = grpc.insecure_channel(address)
    if token is not None:
        channel = grpc.intercept_channel(channel, _TokenInterceptor(token, tuner_id))
    return protos.get_service_grpc().OracleStub(channel)


def _end(stub, trial, **values):
    from keras_tuner.src import protos

    val_loss = values.pop("val_loss")
    stub.UpdateTrial(protos.get_service().UpdateTrialRequest(trial_id=trial.trial_id, metrics={"val_loss": val_loss},
                                                             step=0), timeout=10)
    trial.metrics.register("val_loss", "min")
    trial.metrics.update("val_loss", val_loss)
    for name, value in values.items():
        trial.hyperparameters.values[name] = value
    trial.status = "COMPLETED"
    stub.EndTrial(protos.get_service().EndTrialRequest(trial=trial.to_proto()), timeout=10)


def _create(stub, tuner_id="forger"):
    from keras_tuner.src import protos
    from keras_tuner.src.engine import trial as trial_module

    response = stub.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id=tuner_id), timeout=10,
                                wait_for_ready=True)
    return trial_module.Trial.from_proto(response.trial)


def test_a_client_without_the_token_is_refused(chief):
    from keras_tuner.src import protos

    _, address = chief
    for token in (None, "wrong"):
        with pytest.raises(grpc.RpcError) as info:
            _stub(address, token).GetSpace(protos.get_service().GetSpaceRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_forged_results_are_refused_and_the_best_is_unaffected(chief):
    from keras_tuner.src import protos

    oracle, address = chief
    honest_stub, forger = _stub(address, TOKEN, "honest"), _stub(address, TOKEN, "forger")
    honest = _create(honest_stub, "honest")
    forged = _create(forger, "forger")
    with pytest.raises(grpc.RpcError) as info:  # outside the space, and not what it was given
        _end(forger, forged, val_loss=0.5, learning_rate=123.0, width=4096)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:  # another worker's trial
        _end(forger, honest, val_loss=-1e9)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stranger = _create(forger, "forger")
    stranger.trial_id = "9999"  # a trial this chief never handed out
    with pytest.raises(grpc.RpcError) as info:
        forger.EndTrial(protos.get_service().EndTrialRequest(trial=stranger.to_proto()), timeout=10)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:  # a non-finite objective
        _end(forger, forged, val_loss=float("nan"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:  # a client may not widen the space
        import keras_tuner

        wider = keras_tuner.HyperParameters()
        wider.Choice("width", [16, 32, 48, 4096])
        forger.UpdateSpace(protos.get_service().UpdateSpaceRequest(hyperparameters=wider.to_proto()), timeout=10)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

    _end(honest_stub, honest, val_loss=0.25)  # what the honest worker was given: accepted
    best = oracle.get_best_trials(1)[0]
    assert best.trial_id == honest.trial_id and best.score == pytest.approx(0.25)
    assert oracle.trials[forged.trial_id].status == "RUNNING"  # the forged result never landed
    assert next(h for h in oracle.get_space().space if h.name == "width").values == [16, 32, 48]


def test_the_chief_writes_a_private_token_for_its_workers(tmp_path, monkeypatch):
    import stat

    from solutions.tuning.distributed import TOKEN_ENV, TOKEN_FILE, ensure_token, token

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    value = ensure_token(tmp_path)
    assert len(value) >= 32 and token(tmp_path) == value == ensure_token(tmp_path)
    assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600


def test_a_chief_off_loopback_needs_a_token(monkeypatch, capsys):
    from solutions.tuning.distributed import TOKEN_ENV, check_chief_address

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    check_chief_address("127.0.0.1")  # loopback: fine without a token
    with pytest.raises(UserError, match=TOKEN_ENV):
        check_chief_address("0.0.0.0")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    check_chief_address("0.0.0.0")
    assert "WARNING" in capsys.readouterr().err


def test_a_search_leaves_kerastuner_s_environment_as_it_found_it(monkeypatch):
    """Left set in a notebook after a distributed tune, the next plain `tune()` became a chief of
    KerasTuner's own: it served the oracle without a token and never ended."""
    import os

    from solutions.tuning.distributed import KERASTUNER_VARIABLES, configured

    for name in KERASTUNER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "the-caller-s")
    with pytest.raises(RuntimeError):
        with configured("127.0.0.1:8000", "chief", None):
            assert os.environ["KERASTUNER_TUNER_ID"] == "chief" and os.environ["KERASTUNER_ORACLE_PORT"] == "8000"
            raise RuntimeError("the search failed")
    assert os.environ["KERASTUNER_TUNER_ID"] == "the-caller-s"
    assert "KERASTUNER_ORACLE_IP" not in os.environ and "KERASTUNER_ORACLE_PORT" not in os.environ


def test_a_second_chief_on_the_same_port_is_refused(tmp_path):
    """gRPC turns SO_REUSEPORT on: two chiefs listened on one port and shared the workers."""
    import threading

    import keras_tuner

    from solutions.tuning import distributed

    def oracle(name):
        made = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("val_loss", "min"),
                                                      max_trials=1, seed=1)
        made._set_project_dir(str(tmp_path), name)
        return made

    address = f"127.0.0.1:{_free_port()}"
    first = oracle("first")
    first.tuner_ids.add("worker")  # a worker still attached: the first chief keeps serving
    first.ongoing_trials["worker"] = None
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    serving = threading.Thread(target=distributed.serve, args=(first, address, tmp_path / "first"), daemon=True)
    serving.start()
    try:
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # listening?
            with socket.socket() as s:
                if s.connect_ex(tuple((address.split(":")[0], int(address.split(":")[1])))) == 0:
                    break
            time.sleep(0.1)
        with pytest.raises(UserError, match="cannot listen"):
            distributed.serve(oracle("second"), address, tmp_path / "second")
    finally:
        from keras_tuner.src.engine import trial as trial_module

        first.trials["0"] = trial_module.Trial(first.get_space(), trial_id="0", status="COMPLETED")  # budget spent
        first.ongoing_trials.clear()
        first.tuner_ids.clear()
        serving.join(30)
        assert not serving.is_alive()


def _wait_until(condition, seconds: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def serving(tmp_path, monkeypatch):
    """Start `distributed.serve(oracle, ...)` on a thread; afterwards let go of any worker it still
    waits for, so that a regression fails the test instead of hanging it."""
    import threading

    from solutions.tuning import distributed

    monkeypatch.setenv(distributed.TOKEN_ENV, TOKEN)
    started = []

    def start(oracle, **kwargs):
        address = f"127.0.0.1:{_free_port()}"
        thread = threading.Thread(target=distributed.serve, args=(oracle, address, tmp_path), kwargs=kwargs,
                                  daemon=True)
        thread.start()
        started.append((oracle, thread))
        return address, thread

    yield start
    for oracle, thread in started:
        oracle.ongoing_trials.clear()
        oracle.tuner_ids.clear()
        thread.join(30)


def test_a_silent_worker_s_trial_fails_and_the_search_finishes(tmp_path, serving, capsys):
    """A worker killed mid-trial never reports it: the chief waited forever and never tabulated."""
    import re

    from keras_tuner.src import protos

    oracle = _oracle(tmp_path, max_trials=2)
    address, thread = serving(oracle, worker_timeout=2, grace=60)
    dead = _stub(address, TOKEN, "dead")
    lost = _create(dead, "dead")  # ... and nothing more from it
    assert _wait_until(lambda: oracle.trials[lost.trial_id].status == "FAILED"), "the silent worker's trial still runs"
    assert re.search(rf"^Chief: worker dead not heard from for \d+ s; its trial {lost.trial_id} is counted as "
                     "failed$", capsys.readouterr().out, re.MULTILINE)
    assert "dead" not in oracle.ongoing_trials and "dead" not in oracle.tuner_ids

    with pytest.raises(grpc.RpcError) as info:  # back with the same id: that trial is over for it ...
        _end(dead, lost, val_loss=0.1)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "counted as failed: worker" in info.value.details() and "not heard from" in info.value.details()
    assert oracle.trials[lost.trial_id].status == "FAILED"
    again = _create(dead, "dead")  # ... it gets the next one, and the search goes on to its end
    assert again.trial_id != lost.trial_id and again.status == "RUNNING"
    _end(dead, again, val_loss=0.2)
    assert _create(dead, "dead").status == "STOPPED"
    thread.join(15)
    assert not thread.is_alive(), "the chief still serves after the budget was spent"
    assert oracle.get_best_trials(1)[0].trial_id == again.trial_id


def test_a_worker_that_sends_heartbeats_keeps_its_long_trial(tmp_path, serving, capsys):
    """A worker in a long epoch says nothing through KerasTuner; its heartbeat keeps its trial."""
    import time
    from types import SimpleNamespace

    from solutions.tuning import distributed
    from solutions.tuning.guard import authenticate_client, heartbeat

    oracle = _oracle(tmp_path, max_trials=1)
    address, thread = serving(oracle, worker_timeout=2)
    worker = SimpleNamespace(tuner_id="busy", stub=None)
    authenticate_client(worker, address, tmp_path)  # as a worker's search does (tuning/search.py)
    with distributed.chief_watch(address, heartbeat=heartbeat(worker.stub), heartbeat_interval=0.3):
        trial = _create(worker.stub, "busy")
        time.sleep(4)  # "training": well past the timeout, no call but the heartbeats
        assert oracle.trials[trial.trial_id].status == "RUNNING"
        _end(worker.stub, trial, val_loss=0.3)
        assert _create(worker.stub, "busy").status == "STOPPED"
    thread.join(15)
    assert not thread.is_alive()
    assert oracle.trials[trial.trial_id].status == "COMPLETED"
    assert "not heard from" not in capsys.readouterr().out


def test_the_worker_s_heartbeat_reaches_the_chief_with_its_id(guarded, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from solutions.tuning import distributed
    from solutions.tuning.guard import authenticate_client, heartbeat

    _, address, servicer = guarded
    monkeypatch.setenv(distributed.TOKEN_ENV, TOKEN)
    worker = SimpleNamespace(tuner_id="gpu1", stub=None)
    authenticate_client(worker, address, tmp_path)
    with distributed.chief_watch(address, heartbeat=heartbeat(worker.stub), heartbeat_interval=0.2):
        assert _wait_until(lambda: "gpu1" in servicer.last_seen, 10), "no heartbeat reached the chief"
        first = servicer.last_seen["gpu1"]
        assert _wait_until(lambda: servicer.last_seen["gpu1"] > first, 5), "the heartbeat did not repeat"
    assert set(servicer.last_seen) == {"gpu1"}


def test_too_many_failures_in_a_row_stop_the_chief_and_free_the_oracle(tmp_path):
    """KerasTuner raises from end_trial after its limit of failed trials in a row, holding its lock
    and the trial: the chief hung. The servicer lets both go and marks the search stopped."""
    import threading
    import time

    import keras_tuner

    from solutions.tuning.guard import GuardedOracleServicer

    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("val_loss", "min"),
                                                    max_trials=5, seed=1, max_consecutive_failed_trials=1)
    oracle._set_project_dir(str(tmp_path), "search")
    oracle.update_space(_oracle(tmp_path).get_space())
    servicer = GuardedOracleServicer(oracle, TOKEN)
    trial = oracle.create_trial("lost")
    servicer.last_seen["lost"] = time.monotonic() - 10
    assert [f[:2] for f in servicer.fail_silent_trials(1)] == [("lost", trial.trial_id)]
    assert "consecutive failures" in servicer.stopped and not oracle.ongoing_trials
    other = threading.Thread(target=oracle.create_trial, args=("other",), daemon=True)
    other.start()
    other.join(10)
    assert not other.is_alive(), "the oracle's lock was kept"


def test_a_worker_cut_off_too_long_says_so_and_takes_the_next_trial(tmp_path, serving, capsys, monkeypatch):
    """Not dead, only silent past the chief's wait: its report was refused and its search stopped."""
    from keras_tuner.src.distribute.oracle_client import OracleClient

    from solutions.tuning.guard import authenticate_client, keep_going_after_a_lost_trial

    oracle = _oracle(tmp_path, max_trials=2)
    address, thread = serving(oracle, worker_timeout=2, grace=60)
    host, port = address.rsplit(":", 1)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", host)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", port)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "cut")
    client = OracleClient(oracle)
    authenticate_client(client, address, tmp_path)  # as tuning/search.py does for a worker
    keep_going_after_a_lost_trial(client)
    lost = client.create_trial("cut")
    assert _wait_until(lambda: oracle.trials[lost.trial_id].status == "FAILED"), "the silent worker's trial still runs"
    lost.status = "COMPLETED"
    client.end_trial(lost)  # refused by the chief: said, not raised
    assert re.search(rf"Worker cut: trial '{lost.trial_id}' .*counted as failed.*going on with the next trial",
                     capsys.readouterr().out)
    assert oracle.trials[lost.trial_id].status == "FAILED"
    following = client.create_trial("cut")
    assert following.trial_id != lost.trial_id and following.status == "RUNNING"
    stranger = client.create_trial("cut")  # the same running trial again: KerasTuner keeps one per worker
    stranger.trial_id = "9999"  # a trial this chief never handed out: still an error
    with pytest.raises(grpc.RpcError) as info:
        client.end_trial(stranger)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    _end(client.stub, following, val_loss=0.2)
    assert client.create_trial("cut").status == "STOPPED"  # the budget is spent
    thread.join(15)
    assert not thread.is_alive()
