"""The contract between the runtime and a service's ``build`` function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from starlette.types import ASGIApp

from kpr_gateway.ledger import Ledger
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability.health import DrainState, Readiness
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline.bus import Bus
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
    extra_checks: Mapping[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)


class Component(Protocol):
    reads_nhn: bool
    """True when the component's work arrives from NHN (receipts): on shutdown its NHN
    transport stops first, else the bus stops first (dispatch finishes its sends)."""

    def register(self) -> None:
        """Subscribe handlers on the bus (and NHN transport), before anything starts."""

    async def start(self) -> None:
        """Start own background work (after the bus and transport have started)."""

    async def close(self) -> None:
        """Finish own pending work; called after the bus stopped delivering."""

    def http_app(self) -> ASGIApp | None:
        """The service's own HTTP app (with the health routes), or None for the health app."""
