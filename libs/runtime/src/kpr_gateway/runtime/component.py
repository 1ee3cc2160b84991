"""The contract between the runtime and a service's ``build`` function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from starlette.types import ASGIApp

from kpr_gateway.ledger import Ledger
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability.health import DrainState, Readiness
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.tenancy import TenantsFile


@dataclass(frozen=True)
class ServiceContext:
    """Everything a service is built from; production and embedded mode differ only here."""

    name: str
    tenants: TenantsFile
    ledger: Ledger
    bus: Bus
    metrics: ServiceMetrics
    readiness: Readiness
    drain: DrainState
    nhn: NhnTransport | None = None
    receivers: ReceiverDirectory = field(default_factory=ReceiverDirectory)
    """Where each tenant's KPR receiver is looked up: its ``receiver_override``, else the
    Address Registry when one is configured (the default: overrides only)."""
    extra_checks: Mapping[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)


class StartupError(Exception):
    """A component cannot start (a tenant's receiver cannot be resolved, say): the service
    ends with exit code 2 and this text, which names the tenant and what is missing."""


class WorkSource(StrEnum):
    HTTP = "http"
    BUS = "bus"
    NHN = "nhn"


class Component(Protocol):
    work_arrives_by: WorkSource
    """Where the component's work comes from; on shutdown that source stops first, so work
    in flight can still reach its outputs (intake's requests their publish, dispatch its
    sends, receipts its ledger and bus)."""

    def register(self) -> None:
        """Subscribe handlers on the bus (and NHN transport), before anything starts."""

    async def start(self) -> None:
        """Start own background work (after the bus and transport have started); a
        ``StartupError`` here stops the service with its reason."""

    async def close(self) -> None:
        """Finish own pending work; called after the bus stopped delivering."""

    def http_app(self) -> ASGIApp | None:
        """The service's own HTTP app on ``http_port`` (intake's API), or None. Health, status
        and metrics are not part of it: the runtime serves them on ``ops_port``."""
