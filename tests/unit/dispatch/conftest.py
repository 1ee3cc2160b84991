"""Dispatch on the in-memory bus, a fakeredis ledger and the in-memory Tjenestebuss."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import Ledger
from kpr_gateway.nhn import InMemoryNhnBroker, NhnMessage
from kpr_gateway.pipeline import OUTBOX, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.runtime import Component
from kpr_gateway.tenancy import TenantsFile
from tests.support.harness import MemoryHarness
from tests.support.outbound_fixtures import bergen, dev_pki, ledger, tenants
from tests.support.outbound_world import KPR_VALIDATION_QUEUE, service_context
from tests.unit.dispatch.transports import FlakyTransport

__all__ = ["bergen", "dev_pki", "ledger", "tenants"]


@pytest.fixture
def settings(tmp_path: Path) -> DispatchSettings:
    return DispatchSettings(tenants_file=tmp_path / "tenants.yaml")


@dataclass
class Harness(MemoryHarness):
    nhn_broker: InMemoryNhnBroker
    transport: FlakyTransport

    async def deliver(self, sealed: SealedMessage) -> None:
        """Publish to ``outbox`` and wait until everything published was settled."""
        await self.producer.publish(OUTBOX, sealed.to_body(), message_id=str(sealed.msg_id))
        await self.broker.wait_settled()

    def received(self, queue: str = KPR_VALIDATION_QUEUE) -> list[NhnMessage]:
        """Take what waits on an NHN queue."""
        source = self.nhn_broker.queue(queue)
        return [source.get_nowait() for _ in range(source.qsize())]


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
        return Harness(broker, producer, context.metrics, nhn_broker, transport)

    yield start
    for bus, producer, transport, component in running:
        await producer.stop()
        await transport.stop()
        await bus.stop()
        await component.close()
