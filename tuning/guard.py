"""What the kit adds to KerasTuner's chief, whose gRPC oracle is open to anyone who reaches it.

KerasTuner's OracleServicer binds an insecure port and believes every client: a forged client can
end a trial it was never given, with hyperparameters outside the space and any objective, and that
trial becomes "the best" and is retrained. The kit's servicer:
- answers only clients that present the shared token (compared in constant time):
  `SOLUTIONS_TUNER_TOKEN`, or else a random one the chief writes (mode 0600) into the search
  directory that its workers share, so on one machine no other user can join; a chief on a
  non-loopback address refuses to start without the environment's token;
- accepts results only from the worker it handed the trial to, while it runs, with exactly the
  hyperparameters it handed out (so never outside the space) and a finite objective; the chief's
  own record of the trial is ended, never the client's copy;
- never lets a client change the search space;
- records when it last heard from each worker (any authenticated call, the workers' heartbeats
  included), so that the chief can count the trial of a worker gone silent as failed
  (`fail_silent_trials`) instead of waiting for it forever.
What it does not add: encryption (gRPC runs without TLS: the token and the results cross the
network in the clear) or protection against a worker that holds the token and lies about its own
trial's objective. Run a distributed search on a network you trust.
"""

from __future__ import annotations

import collections
import hmac
import math
import time
from typing import Callable, TypeVar

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine.oracle import synchronized

from solutions.tuning.distributed import HEARTBEAT_SECONDS, TOKEN_ENV, TOKEN_HEADER, TUNER_HEADER, wait_for_token

T = TypeVar("T")


@synchronized
def _locked_call(oracle, action: Callable[[], T]) -> tuple[T | None, Exception | None]:
    try:
        return action(), None
    except Exception as exc:  # grpc's context.abort raises too
        return None, exc


def under_oracle_lock(oracle, action: Callable[[], T]) -> T:
    """`action()` holding the lock the oracle's own @synchronized methods take, so that a check and
    the change it allows are one step for the gRPC threads and the chief's loop alike. Released even
    when `action` raises: KerasTuner's decorator keeps the lock then, and the chief would hang."""
    result, error = _locked_call(oracle, action)
    if error is not None:
        raise error
    return result  # type: ignore[return-value]


def _tuner_id(context) -> str:
    return dict(context.invocation_metadata()).get(TUNER_HEADER, "")


class GuardedOracleServicer(OracleServicer):
    """KerasTuner's servicer with a token check and result validation (see the module docstring)."""

    def __init__(self, oracle, shared_token: str | None = None):
        super().__init__(oracle)
        self.token = shared_token
        self.started = time.monotonic()
        self.last_seen: dict[str, float] = {}  # tuner id -> monotonic time of its last authenticated call
        self.stopped: str | None = None  # why the oracle refuses to go on (KerasTuner's consecutive failures)

    def _authenticate(self, context) -> None:
        if self.token is not None:
            presented = dict(context.invocation_metadata()).get(TOKEN_HEADER, "")
            if not hmac.compare_digest(presented.encode(), self.token.encode()):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing or wrong {TOKEN_ENV}")
        if tuner_id := _tuner_id(context):
            self.last_seen[tuner_id] = time.monotonic()

    def silence(self, tuner_id: str, now: float) -> float:
        """Seconds since the worker's last call (since this chief started, if it never called)."""
        return now - self.last_seen.get(tuner_id, self.started)

    def _end(self, trial) -> None:
        """The oracle's end_trial, under its lock. After too many failed trials in a row KerasTuner
        raises before it lets the trial go (and on every later end): the trial is let go here and
        the search marked stopped, for `serve` to report rather than wait for it forever."""
        try:
            self.oracle.end_trial(trial)
        except RuntimeError as exc:
            if "consecutive failures" not in str(exc):
                raise
            self.stopped = str(exc).splitlines()[0]
            for tuner_id, ongoing in list(self.oracle.ongoing_trials.items()):
                if ongoing is not None and ongoing.trial_id == trial.trial_id:
                    del self.oracle.ongoing_trials[tuner_id]

    def fail_silent_trials(self, timeout: float) -> list[tuple[str, str, float]]:
        """End as FAILED each running trial whose worker has not called for over `timeout` seconds,
        under the oracle's lock (a late EndTrial then finds it ended); the worker is let go too, so
        the chief does not wait for it to ask again. Returns (tuner id, trial id, seconds silent)."""
        def fail() -> list[tuple[str, str, float]]:
            now, failed = time.monotonic(), []
            for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
                silent = self.silence(tuner_id, now)
                if trial is None or trial.status != trial_module.TrialStatus.RUNNING or silent <= timeout:
                    continue
                trial.status = trial_module.TrialStatus.FAILED
                trial.message = f"worker {tuner_id} not heard from for {silent:.0f} s"
                self._end(trial)
                self.oracle.tuner_ids.discard(tuner_id)
                failed.append((tuner_id, trial.trial_id, silent))
            return failed

        return under_oracle_lock(self.oracle, fail)

    def _running_trial(self, trial_id: str, context):
        """The trial, if this chief handed it to the calling worker and it still runs (call it
        under the oracle's lock, with the change it allows)."""
        tuner_id = _tuner_id(context)
        owned = self.oracle.ongoing_trials.get(tuner_id)
        trial = self.oracle.trials.get(trial_id)
        if owned is None or owned.trial_id != trial_id or trial is None \
                or trial.status != trial_module.TrialStatus.RUNNING:
            failed = trial is not None and trial.status == trial_module.TrialStatus.FAILED and trial.message
            why = f" (it was counted as failed: {str(trial.message)[:200]})" if failed else ""
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"trial {trial_id!r} is not one this chief has running for {tuner_id or 'this client'}{why}")
        return trial

    def GetSpace(self, request, context):
        self._authenticate(context)
        return super().GetSpace(request, context)

    def UpdateSpace(self, request, context):
        """Workers declare the space they were built with; it must be the chief's own."""
        self._authenticate(context)
        known = {hp.name: hp.get_config() for hp in self.oracle.get_space().space}
        for hp in hp_module.HyperParameters.from_proto(request.hyperparameters).space:
            if known.get(hp.name) != hp.get_config():
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"hyperparameter {hp.name!r} is not in the chief's search space as declared")
        return protos.get_service().UpdateSpaceResponse()

    def CreateTrial(self, request, context):  # KerasTuner's lock is kept if create_trial raises: ours is not
        self._authenticate(context)
        return under_oracle_lock(self.oracle, lambda: super(GuardedOracleServicer, self).CreateTrial(request, context))

    def UpdateTrial(self, request, context):
        self._authenticate(context)
        objective = getattr(self.oracle.objective, "name", None)
        if objective in request.metrics and not math.isfinite(request.metrics[objective]):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the objective {objective} is not a finite number")

        def update():
            self._running_trial(request.trial_id, context)
            return super(GuardedOracleServicer, self).UpdateTrial(request, context)

        return under_oracle_lock(self.oracle, update)

    def EndTrial(self, request, context):
        self._authenticate(context)
        reported = trial_module.Trial.from_proto(request.trial)

        def end() -> None:
            own = self._running_trial(reported.trial_id, context)
            if reported.hyperparameters.values != own.hyperparameters.values:
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"trial {reported.trial_id!r} reports other hyperparameters than it was given")
            own.status = reported.status  # the chief's own record ends; the client's copy is not merged
            self._end(own)

        under_oracle_lock(self.oracle, end)
        if self.stopped:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"the search stopped: {self.stopped}")
        return protos.get_service().EndTrialResponse()

    def GetTrial(self, request, context):
        self._authenticate(context)
        return under_oracle_lock(self.oracle, lambda: super(GuardedOracleServicer, self).GetTrial(request, context))

    def GetBestTrials(self, request, context):
        self._authenticate(context)
        return under_oracle_lock(self.oracle,
                                 lambda: super(GuardedOracleServicer, self).GetBestTrials(request, context))


class _CallDetails(collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials",
                                                           "wait_for_ready", "compression")),
                   grpc.ClientCallDetails):
    pass


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Adds the shared token and the worker's tuner id to every call."""

    def __init__(self, shared_token: str, tuner_id: str):
        self.metadata = ((TOKEN_HEADER, shared_token), (TUNER_HEADER, tuner_id))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(_CallDetails(details.method, details.timeout, tuple(details.metadata or ()) + self.metadata,
                                         details.credentials, getattr(details, "wait_for_ready", None),
                                         getattr(details, "compression", None)), request)


def authenticate_client(oracle_client, address: str, search_dir) -> None:
    """Make a worker's KerasTuner OracleClient present the shared token and its id on every call."""
    interceptor = _TokenInterceptor(wait_for_token(search_dir), oracle_client.tuner_id)
    channel = grpc.intercept_channel(grpc.insecure_channel(address), interceptor)
    oracle_client.stub = protos.get_service_grpc().OracleStub(channel)


def heartbeat(stub, timeout: float = HEARTBEAT_SECONDS) -> Callable[[], None]:
    """One cheap authenticated call (GetSpace takes no oracle lock): the chief learns the worker
    is alive while its trial trains in a child process and the tuner itself says nothing."""
    def beat() -> None:
        stub.GetSpace(protos.get_service().GetSpaceRequest(), timeout=timeout)

    return beat


def keep_going_after_a_lost_trial(client) -> None:
    """A worker cut off from its chief for longer than the chief waits (not dead: a network cut, a
    suspended machine) finds its trial counted as failed when it reports it: it says so and takes
    the next trial, where its whole search once stopped on the chief's refusal."""
    end = client.end_trial

    def end_trial(trial) -> None:
        try:
            end(trial)
        except grpc.RpcError as exc:
            details = exc.details() if hasattr(exc, "details") else ""
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED or "counted as failed" not in (details or ""):
                raise
            print(f"Worker {client.tuner_id}: {details}; going on with the next trial", flush=True)

    client.end_trial = end_trial
