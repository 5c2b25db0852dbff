"""The chief's oracle refuses forged clients: no token, a trial it never handed out, hyperparameters
outside what it handed out (so outside the space), a changed space; the search's best is unaffected.
A chief on a non-loopback address without a token refuses to start."""

from __future__ import annotations

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


@pytest.fixture
def chief(tmp_path):
    import keras_tuner
    from keras_tuner.src import protos

    from solutions.tuning.guard import GuardedOracleServicer

    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("val_loss", "min"),
                                                    max_trials=10, seed=1)
    oracle._set_project_dir(str(tmp_path), "search")
    hp = keras_tuner.HyperParameters()
    hp.Choice("width", [16, 32, 48])
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    oracle.update_space(hp)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    protos.get_service_grpc().add_OracleServicer_to_server(GuardedOracleServicer(oracle, TOKEN), server)
    address = f"127.0.0.1:{_free_port()}"
    server.add_insecure_port(address)
    server.start()
    yield oracle, address
    server.stop(grace=0)


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

    response = stub.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id=tuner_id), timeout=10)
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
        first.ongoing_trials.clear()
        first.tuner_ids.clear()
        serving.join(30)
