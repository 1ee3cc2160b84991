"""Dispatch on the in-memory bus, a fakeredis ledger and the in-memory Tjenestebuss."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import Ledger
from kpr_gateway.nhn import InMemoryNhnBroker, NhnMessage
from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.pipeline import OUTBOX, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.runtime import Component
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile
from tests.unit.dispatch.transports import FlakyTransport
from tests.unit.envelope.world import (
    KPR_VALIDATION_QUEUE,
    PARTIES,
    bergen_entry,
    service_context,
    write_tenants,
)


@pytest.fixture(scope="session")
def dev_pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def tenants(dev_pki: DevPki, tmp_path: Path) -> TenantsFile:
    return write_tenants(dev_pki, tmp_path, [bergen_entry()])


@pytest.fixture
def bergen(tenants: TenantsFile) -> Tenant:
    return tenants.by_id("bergen")


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(FakeAsyncRedis())


@pytest.fixture
def settings(tmp_path: Path) -> DispatchSettings:
    return DispatchSettings(tenants_file=tmp_path / "tenants.yaml")


@dataclass
class Harness:
    broker: MemoryBroker
    producer: MemoryBus
    nhn_broker: InMemoryNhnBroker
    transport: FlakyTransport
    metrics: ServiceMetrics

    async def deliver(self, sealed: SealedMessage) -> None:
        """Publish to ``outbox`` and wait until everything published was settled."""
        await self.producer.publish(OUTBOX, sealed.to_body(), message_id=str(sealed.msg_id))
        await self.broker.wait_settled()

    def received(self, queue: str = KPR_VALIDATION_QUEUE) -> list[NhnMessage]:
        """Take what waits on an NHN queue."""
        source = self.nhn_broker.queue(queue)
        return [source.get_nowait() for _ in range(source.qsize())]

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})


StartDispatch = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_dispatch(tenants: TenantsFile, ledger: Ledger) -> AsyncIterator[StartDispatch]:
    """Start dispatch through ``build``, as the runtime does, on a transport of the test's."""
    running: list[tuple[MemoryBus, MemoryBus, FlakyTransport, Component]] = []

    async def start(
        *,
        transport_type: type[FlakyTransport] = FlakyTransport,
        failures: int = 0,
        **options: object,
    ) -> Harness:
        settings = DispatchSettings.model_validate(
            {"tenants_file": Path("tenants.yaml"), **options}
        )
        broker = MemoryBroker(delay_scale=0.001)
        bus = MemoryBus(service_name="dispatch", broker=broker)
        nhn_broker = InMemoryNhnBroker()
        transport = transport_type(nhn_broker, failures=failures)
        context = service_context(
            "dispatch", tenants=tenants, ledger=ledger, bus=bus, nhn=transport
        )
        component = build(context, settings)
        producer = MemoryBus(service_name="test", broker=broker)
        component.register()
        await bus.start()
        await transport.start()
        await producer.start()
        await component.start()
        running.append((bus, producer, transport, component))
        return Harness(broker, producer, nhn_broker, transport, context.metrics)

    yield start
    for bus, producer, transport, component in running:
        await producer.stop()
        await transport.stop()
        await bus.stop()
        await component.close()
