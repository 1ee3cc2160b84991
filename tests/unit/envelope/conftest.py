"""Envelope on the in-memory bus with a fakeredis ledger: a producer bus publishes to
``messages`` and collects what arrives on ``outbox``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from kpr_gateway.envelope.app import Envelope, build
from kpr_gateway.envelope.sealing import load_sealing
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import Ledger
from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import BuiltMessage, SealedMessage
from kpr_gateway.runtime import Component
from kpr_gateway.tenancy import TenantsFile
from tests.support.harness import MemoryHarness
from tests.support.outbound_fixtures import bergen, dev_pki, ledger, tenants
from tests.support.outbound_world import service_context

__all__ = ["bergen", "dev_pki", "ledger", "tenants"]


@pytest.fixture
def settings(tmp_path: Path) -> EnvelopeSettings:
    return EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml")


@dataclass
class Harness(MemoryHarness):
    outbox: list[SealedMessage] = field(default_factory=list)

    async def deliver(self, built: BuiltMessage | bytes, *, message_id: str = "m") -> None:
        """Publish to ``messages`` and wait until everything published was settled."""
        if isinstance(built, BuiltMessage):
            body, message_id = built.to_body(), str(built.msg_id)
        else:
            body = built
        await self.producer.publish(MESSAGES, body, message_id=message_id)
        await self.broker.wait_settled()


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
