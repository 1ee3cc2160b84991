"""The embedded mode: every service and the KPR simulator in one process.

The services are built by the same ``build`` functions as in production; only the bus
(in memory), the store (fakeredis) and the NHN transport (an in-process Tjenestebuss)
differ. Good for a first look and for EPJ vendors building against the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.simulator import EmbeddedSimulator, SimulatorOptions
from kpr_gateway.cli.demo.world import DemoWorld
from kpr_gateway.dispatch.app import build as build_dispatch
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.envelope.app import build as build_envelope
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.intake.app import build as build_intake
from kpr_gateway.intake.settings import IntakeSettings
from kpr_gateway.ledger import Ledger
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport, NhnTransport
from kpr_gateway.observability import GracefulShutdown, HealthServer, ServiceMetrics
from kpr_gateway.observability.health import readiness_checks
from kpr_gateway.pipeline import MemoryBroker, MemoryBus
from kpr_gateway.receipts.app import build as build_receipts
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.runtime import (
    Component,
    ReceiverDirectory,
    ServiceContext,
    ServiceSettings,
    WorkSource,
)
from kpr_gateway.tenancy import TenantsFile, load_tenants
from kpr_gateway.transform.app import build as build_transform
from kpr_gateway.transform.settings import TransformSettings
from kpr_gateway.webhooks.app import build as build_webhooks
from kpr_gateway.webhooks.settings import WebhooksSettings


@dataclass(frozen=True)
class _Service:
    name: str
    settings: ServiceSettings
    build: Callable[[ServiceContext, Any], Component]
    uses_nhn: bool = False


class EmbeddedGateway:
    def __init__(
        self,
        world: DemoWorld,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        simulator: SimulatorOptions | None = None,
    ) -> None:
        self.world = world
        self.tenants: TenantsFile = load_tenants(world.tenants_file)
        self.ledger = Ledger(FakeAsyncRedis())
        self.bus_broker = MemoryBroker()
        self.nhn_broker = InMemoryNhnBroker()
        self.drain = GracefulShutdown()
        # The demo's tenants carry receiver_override (the simulator's KPR certificates).
        self.receivers = ReceiverDirectory()
        self._host = host
        self._port = port
        tenants_file = world.tenants_file
        self._services = (
            _Service("intake", IntakeSettings(tenants_file=tenants_file), build_intake),
            _Service(
                "transform",
                TransformSettings(tenants_file=tenants_file, max_batch_age_seconds=0.5),
                build_transform,
            ),
            _Service("envelope", EnvelopeSettings(tenants_file=tenants_file), build_envelope),
            _Service("dispatch", DispatchSettings(tenants_file=tenants_file), build_dispatch, True),
            _Service("receipts", ReceiptsSettings(tenants_file=tenants_file), build_receipts, True),
            # The demo's EPJ clients have no webhook unless the tenants file gives them one
            # (the notices are then acknowledged, as in production); a local one may be http.
            _Service(
                "webhooks",
                WebhooksSettings(tenants_file=tenants_file, allow_insecure_urls=True),
                build_webhooks,
            ),
        )
        self._buses: list[MemoryBus] = []
        self._transports: list[NhnTransport] = []
        self._components: list[Component] = []
        self.simulator = EmbeddedSimulator(
            InMemoryNhnTransport(self.nhn_broker), world, simulator or SimulatorOptions()
        )
        self._server: HealthServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the gateway is not running")
        return self._server.port

    async def start(self) -> None:
        intake_app = None
        for service in self._services:
            bus = MemoryBus(service_name=service.name, broker=self.bus_broker)
            transport: NhnTransport | None = (
                InMemoryNhnTransport(self.nhn_broker) if service.uses_nhn else None
            )
            checks = {"broker": bus.ping, "redis": self.ledger.ping}
            context = ServiceContext(
                name=service.name,
                tenants=self.tenants,
                ledger=self.ledger,
                bus=bus,
                metrics=ServiceMetrics(service.name),
                readiness=readiness_checks(checks),
                drain=self.drain,
                nhn=transport,
                receivers=self.receivers,
            )
            component = service.build(context, service.settings)
            component.register()
            self._buses.append(bus)
            if transport is not None:
                self._transports.append(transport)
            self._components.append(component)
            intake_app = intake_app or component.http_app()
        await self.simulator.start()
        for bus in self._buses:
            await bus.start()
        for transport in self._transports:
            await transport.start()
        for component in self._components:
            await component.start()
        assert intake_app is not None  # noqa: S101 - intake is the first service above
        self._server = HealthServer(intake_app, self._host, self._port)
        await self._server.start()

    async def stop(self) -> None:
        # Where work comes from stops first: HTTP, the bus-fed services, NHN, then the rest.
        if self._server is not None:
            await self._server.stop()
        pairs = list(zip(self._components, self._buses, strict=True))
        for component, bus in pairs:
            if component.work_arrives_by is not WorkSource.NHN:
                await bus.stop()
        for transport in self._transports:
            await transport.stop()
        for component, bus in pairs:
            if component.work_arrives_by is WorkSource.NHN:
                await bus.stop()
        for component in self._components:
            await component.close()
        await self.simulator.stop()
