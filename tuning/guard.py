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

from solutions.tuning.distributed import TOKEN_ENV, TOKEN_HEADER, TUNER_HEADER, wait_for_token


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
        """The trial, if this chief handed it to the calling worker and it still runs."""
        tuner_id = dict(context.invocation_metadata()).get(TUNER_HEADER, "")
        owned = self.oracle.ongoing_trials.get(tuner_id)
        trial = self.oracle.trials.get(trial_id)
        if owned is None or owned.trial_id != trial_id or trial is None \
                or trial.status != trial_module.TrialStatus.RUNNING:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"trial {trial_id!r} is not one this chief has running for {tuner_id or 'this client'}")
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
        objective = getattr(self.oracle.objective, "name", None)
        if objective in request.metrics and not math.isfinite(request.metrics[objective]):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the objective {objective} is not a finite number")
        return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        self._authenticate(context)
        reported = trial_module.Trial.from_proto(request.trial)
        own = self._running_trial(reported.trial_id, context)
        if reported.hyperparameters.values != own.hyperparameters.values:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"trial {reported.trial_id!r} reports other hyperparameters than it was given")
        own.status = reported.status  # the chief's own record ends; the client's copy is not merged
        self.oracle.end_trial(own)
        return protos.get_service().EndTrialResponse()

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
