"""Envelope on the in-memory bus with a fakeredis ledger: a producer bus publishes to
``messages`` and collects what arrives on ``outbox``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.envelope.app import Envelope, build
from kpr_gateway.envelope.sealing import load_sealing
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import Ledger
from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import BuiltMessage, SealedMessage
from kpr_gateway.runtime import Component
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile
from tests.unit.envelope.world import PARTIES, bergen_entry, service_context, write_tenants


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
def settings(tmp_path: Path) -> EnvelopeSettings:
    return EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml")


@dataclass
class Harness:
    broker: MemoryBroker
    producer: MemoryBus
    metrics: ServiceMetrics
    outbox: list[SealedMessage] = field(default_factory=list)

    async def deliver(self, built: BuiltMessage | bytes, *, message_id: str = "m") -> None:
        """Publish to ``messages`` and wait until everything published was settled."""
        if isinstance(built, BuiltMessage):
            body, message_id = built.to_body(), str(built.msg_id)
        else:
            body = built
        await self.producer.publish(MESSAGES, body, message_id=message_id)
        await self.broker.wait_settled()

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})


StartEnvelope = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_envelope(
    tenants: TenantsFile, ledger: Ledger, settings: EnvelopeSettings
) -> AsyncIterator[StartEnvelope]:
    """Start envelope (through ``build``, or with its own clock) beside a producer bus."""
    buses: list[MemoryBus] = []
    components: list[Component] = []

    async def start(clock: Callable[[], datetime] | None = None) -> Harness:
        broker = MemoryBroker(delay_scale=0.001)
        bus = MemoryBus(service_name="envelope", broker=broker)
        context = service_context("envelope", tenants=tenants, ledger=ledger, bus=bus)
        if clock is None:
            component: Component = build(context, settings)
        else:
            component = Envelope(
                tenants=tenants,
                sealing=load_sealing(tenants),
                receivers=context.receivers,
                ledger=ledger,
                bus=bus,
                metrics=context.metrics,
                prefetch=settings.prefetch,
                clock=clock,
            )
        producer = MemoryBus(service_name="test", broker=broker)
        harness = Harness(broker, producer, context.metrics)

        async def collect(delivery: Delivery) -> None:
            harness.outbox.append(SealedMessage.from_body(delivery.body))

        producer.subscribe(OUTBOX, collect)
        component.register()
        for started in (bus, producer):
            await started.start()
            buses.append(started)
        await component.start()
        components.append(component)
        return harness

    yield start
    for bus in buses:
        await bus.stop()
    for component in components:
        await component.close()
