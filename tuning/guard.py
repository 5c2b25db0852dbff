"""What the kit adds to KerasTuner's chief, whose gRPC oracle is open to anyone who reaches it.

KerasTuner's OracleServicer binds an insecure port and believes every client: a forged client can
end a trial it was never given, with hyperparameters outside the space and any objective, and that
trial becomes "the best" and is retrained. The kit's servicer:
- answers only clients that present the shared token (`SOLUTIONS_TUNER_TOKEN`, compared in
  constant time), when one is set; a chief on a non-loopback address refuses to start without one;
- accepts results only for a trial this chief handed out and that is still running, with exactly
  the hyperparameters it handed out (so never outside the space), and finite metrics;
- never lets a client change the search space.
What it does not add: encryption (gRPC runs without TLS: the token and the results cross the
network in the clear) or protection against a worker that holds the token and lies about its own
trial's objective. Run a distributed search on a network you trust.
"""

from __future__ import annotations

import collections
import hmac
import math

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import trial as trial_module

from tuning.distributed import TOKEN_ENV, TOKEN_HEADER, token


class GuardedOracleServicer(OracleServicer):
    """KerasTuner's servicer with a token check and result validation (see the module docstring)."""

    def __init__(self, oracle, shared_token: str | None = None):
        super().__init__(oracle)
        self.token = shared_token

    def _authenticate(self, context) -> None:
        if self.token is None:
            return
        presented = dict(context.invocation_metadata()).get(TOKEN_HEADER, "")
        if not hmac.compare_digest(presented.encode(), self.token.encode()):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing or wrong {TOKEN_ENV}")

    def _running_trial(self, trial_id: str, context):
        trial = self.oracle.trials.get(trial_id)
        handed_out = trial is not None and any(t.trial_id == trial_id for t in self.oracle.ongoing_trials.values())
        if not handed_out or trial.status != trial_module.TrialStatus.RUNNING:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"trial {trial_id!r} is not one this chief has running")
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

    def CreateTrial(self, request, context):
        self._authenticate(context)
        return super().CreateTrial(request, context)

    def UpdateTrial(self, request, context):
        self._authenticate(context)
        self._running_trial(request.trial_id, context)
        if not all(math.isfinite(v) for v in request.metrics.values()):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a metric is not a finite number")
        return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        self._authenticate(context)
        reported = trial_module.Trial.from_proto(request.trial)
        own = self._running_trial(reported.trial_id, context)
        if reported.hyperparameters.values != own.hyperparameters.values:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"trial {reported.trial_id!r} reports other hyperparameters than it was given")
        for name, history in reported.metrics.metrics.items():
            values = [v for o in history.get_history() for v in o.value]
            if not all(math.isfinite(v) for v in values):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"metric {name!r} is not a finite number")
        return super().EndTrial(request, context)

    def GetTrial(self, request, context):
        self._authenticate(context)
        return super().GetTrial(request, context)

    def GetBestTrials(self, request, context):
        self._authenticate(context)
        return super().GetBestTrials(request, context)


class _CallDetails(collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials",
                                                           "wait_for_ready", "compression")),
                   grpc.ClientCallDetails):
    pass


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, shared_token: str):
        self.metadata = ((TOKEN_HEADER, shared_token),)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(_CallDetails(details.method, details.timeout, tuple(details.metadata or ()) + self.metadata,
                                         details.credentials, getattr(details, "wait_for_ready", None),
                                         getattr(details, "compression", None)), request)


def authenticate_client(oracle_client, address: str) -> None:
    """Make a worker's KerasTuner OracleClient present the shared token on every call."""
    shared = token()
    if shared is None:
        return
    channel = grpc.intercept_channel(grpc.insecure_channel(address), _TokenInterceptor(shared))
    oracle_client.stub = protos.get_service_grpc().OracleStub(channel)
