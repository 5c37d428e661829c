"""Scoring through joust's native inference API (``joust.v1.Inference``),
served by routers and serving nodes: rows in, one score and label per
row, and the version (and, through a router, the arm) that answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

from joust.connection import Client
from joust.errors import call
from joust.v1 import inference_pb2 as pb
from joust.v1 import inference_pb2_grpc

Row = Union[Sequence[float], Mapping[str, float]]


@dataclass(frozen=True)
class Prediction:
    model: str
    #: The version that answered.
    version: int
    request_id: str
    #: One per row, higher = more anomalous.
    scores: list[float]
    #: One per row: score above the model's threshold.
    labels: list[bool]
    #: ``champion`` or ``challenger`` through a router; empty from a node.
    arm: str


class InferenceClient(Client):
    """``joust.v1.Inference`` at ``url`` (a router or a node)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._stub = inference_pb2_grpc.InferenceStub(self.channel)

    def predict(
        self,
        model: str,
        rows: Sequence[Row],
        *,
        version: int = 0,
        request_id: str = "",
        routing_key: str = "",
    ) -> Prediction:
        """Scores ``rows``: each a sequence of floats in schema order, or a
        mapping from feature name to value (every feature present).
        ``version`` pins one (0: the server picks); ``routing_key`` makes a
        router's arm choice sticky per key."""
        if not rows:
            raise ValueError("rows: expected at least one row, got none")
        request = pb.PredictRequest(model=model, version=version, request_id=request_id, routing_key=routing_key)
        for row in rows:
            if isinstance(row, Mapping):
                request.rows.add(features={str(k): float(v) for k, v in row.items()})
            else:
                request.rows.add(values=[float(v) for v in row])
        r = call("Inference/Predict", lambda: self._stub.Predict(request, timeout=self.timeout))
        return Prediction(r.model, r.version, r.request_id, list(r.scores), list(r.labels), r.arm)
