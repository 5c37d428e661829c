"""The trials client: start, change, stop and inspect champion/challenger
trials and fetch their reports. Mirrors the Rust
``joust_client::TrialsClient``; docs/trials.md explains modes, gates and
the verdict."""

from __future__ import annotations

import builtins
from typing import Any, Optional, Union

from joust._wire import enum_to_wire
from joust.connection import Client
from joust.errors import call
from joust.trial import Trial, TrialGates, TrialMode, TrialOutcome, mode_to_wire
from joust.trial_report import TrialReport
from joust.v1 import trials_pb2 as pb
from joust.v1 import trials_pb2_grpc

PAGE = 500


class TrialsClient(Client):
    """The trials service, served by the registry at ``url``; the same
    options as :class:`joust.RegistryClient`."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._stub = trials_pb2_grpc.TrialsStub(self.channel)

    def _call(self, method: str, request: Any) -> Any:
        rpc = getattr(self._stub, method)
        return call(f"Trials/{method}", lambda: rpc(request, timeout=self.timeout))

    def start(
        self,
        model: str,
        challenger_version: int,
        *,
        mode: Union[TrialMode, str] = TrialMode.SHADOW,
        weight: float = 0.0,
        sampling: float = 1.0,
        sticky: bool = False,
        gates: Optional[TrialGates] = None,
        reason: str = "",
    ) -> Trial:
        """Opens a trial: the ``evaluated`` version ``challenger_version``
        becomes the challenger against ``model``'s champion."""
        request = pb.StartTrialRequest(
            model=model,
            challenger_version=challenger_version,
            mode=mode_to_wire(mode),
            weight=weight,
            sampling=sampling,
            sticky=sticky,
            reason=reason,
        )
        if gates is not None:
            request.gates.CopyFrom(gates.to_pb())
        return Trial.from_pb(self._call("StartTrial", request))

    def update(
        self,
        model: str,
        *,
        mode: Union[None, TrialMode, str] = None,
        weight: Optional[float] = None,
        sampling: Optional[float] = None,
        gates: Optional[TrialGates] = None,
        reason: str = "",
    ) -> Trial:
        """Changes ``model``'s open trial; what is ``None`` stays. A mode,
        weight or sampling change starts a new report period."""
        request = pb.UpdateTrialRequest(model=model, reason=reason)
        if mode is not None:
            request.mode = mode_to_wire(mode)
        if weight is not None:
            request.weight = weight
        if sampling is not None:
            request.sampling = sampling
        if gates is not None:
            request.gates.CopyFrom(gates.to_pb())
        return Trial.from_pb(self._call("UpdateTrial", request))

    def stop(self, model: str, outcome: Union[TrialOutcome, str], reason: str = "") -> Trial:
        """Stops ``model``'s open trial with ``outcome`` (``promote`` makes
        the challenger champion)."""
        wire = enum_to_wire(TrialOutcome, "TRIAL_OUTCOME_", outcome, pb.TrialOutcome, "outcome")
        return Trial.from_pb(self._call("StopTrial", pb.StopTrialRequest(model=model, outcome=wire, reason=reason)))

    def approve(self, model: str, reason: str = "") -> Trial:
        """Grants the pending approval of ``model``'s open trial: its plan
        goes on (docs/trials.md, "Approvals"). FAILED_PRECONDITION when
        none is pending."""
        return Trial.from_pb(self._call("ApproveTrial", pb.DecideApprovalRequest(model=model, reason=reason)))

    def deny(self, model: str, reason: str = "") -> Trial:
        """Denies the pending approval: the trial stops with ``reject``."""
        return Trial.from_pb(self._call("DenyTrial", pb.DecideApprovalRequest(model=model, reason=reason)))

    def get(self, id: int = 0, model: str = "") -> Trial:
        """Trial ``id`` when non-zero, else ``model``'s open trial, else its
        latest."""
        return Trial.from_pb(self._call("GetTrial", pb.GetTrialRequest(id=id, model=model)))

    def list(self, model: Optional[str] = None, open_only: bool = False) -> builtins.list[Trial]:
        """Every trial (of ``model`` when given), by id, following pages."""
        out: builtins.list[Trial] = []
        while True:
            request = pb.ListTrialsRequest(
                model=model or "", open_only=open_only, after_id=out[-1].id if out else 0, limit=PAGE
            )
            page = self._call("ListTrials", request).trials
            out.extend(Trial.from_pb(t) for t in page)
            if len(page) < PAGE:
                return out

    def list_open(self) -> builtins.list[Trial]:
        """Every open trial of every model."""
        return self.list(None, open_only=True)

    def report(self, id: int = 0, model: str = "") -> TrialReport:
        """The report of trial ``id`` (or ``model``'s open, else latest,
        trial), computed from every stored comparison record."""
        return TrialReport.from_pb(self._call("GetTrialReport", pb.GetTrialReportRequest(id=id, model=model)))
