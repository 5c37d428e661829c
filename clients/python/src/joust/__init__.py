"""joust's Python client: the registry (models, versions, lifecycle,
artifacts, audit log), trials (start, update, report, stop), serving
status (routers' routes and node states, a node's serving state, the
``joust status`` view) and scoring, over gRPC.

    import joust
    registry = joust.RegistryClient("http://127.0.0.1:7070")
    v = registry.register_version("fraud", "v1.bin", kind="isolation_forest")

Every failed call raises :class:`JoustError` with the gRPC code and the
server's message. The generated stubs are in ``joust.v1`` for calls this
layer does not cover (``joust.v1.registry_pb2``, ``…_pb2_grpc``).
"""

from joust.connection import Security
from joust.errors import JoustError
from joust.inference import InferenceClient, Prediction
from joust.registry import Alias, Event, Model, ModelVersion, RegistryClient, Rollback, VersionStatus
from joust.serving import NodeClient, NodeStates, Phase, RouterClient, Routes, ServingState
from joust.status import ModelStatus, RouterView, serving_status
from joust.trial import Trial, TrialGates, TrialMode, TrialOutcome, TrialState
from joust.trial_report import TrialReport, TrialVerdict
from joust.trials import TrialsClient

__version__ = "0.1.0"

__all__ = [
    "Alias",
    "Event",
    "InferenceClient",
    "JoustError",
    "Model",
    "ModelStatus",
    "ModelVersion",
    "NodeClient",
    "NodeStates",
    "Phase",
    "Prediction",
    "RegistryClient",
    "Rollback",
    "RouterClient",
    "RouterView",
    "Routes",
    "Security",
    "ServingState",
    "Trial",
    "TrialGates",
    "TrialMode",
    "TrialOutcome",
    "TrialReport",
    "TrialState",
    "TrialVerdict",
    "TrialsClient",
    "VersionStatus",
    "serving_status",
]
