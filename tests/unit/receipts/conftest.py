"""receipts on the in-memory bus, fakeredis and the in-memory NHN broker, with a dev PKI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kpr_gateway.ledger import Ledger, MessageRecord
from kpr_gateway.nhn import InMemoryNhnBroker, NhnMessage
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import RECEIPTS, Delivery, MemoryBroker, MemoryBus, ParkedMessage
from kpr_gateway.pipeline.contracts import ReceiptNotice
from kpr_gateway.receipts.app import Receipts, ReceiptsOptions, load_decryption_keys
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile
from tests.unit.receipts.world import (
    PARTIES,
    RecordingTransport,
    SentMessage,
    send_message,
    tenants_file,
)


class Clock:
    """The ledger's clock, moved on by hand (overdue detection)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass
class Harness:
    tenant: Tenant
    pki: DevPki
    ledger: Ledger
    redis_server: FakeServer
    clock: Clock
    bus: MemoryBus
    nhn: InMemoryNhnBroker
    transport: RecordingTransport
    receipts: Receipts
    metrics: ServiceMetrics
    spans: InMemorySpanExporter
    notices: list[ReceiptNotice] = field(default_factory=list)

    async def sent(self) -> SentMessage:
        return await send_message(self.ledger, self.tenant)

    async def deliver(self, message: NhnMessage, how: str = "accept") -> None:
        """Put ``message`` on its NHN queue and wait until receipts settled it ``how``."""
        self.nhn.put(message)
        await self.transport.settled(message.message_id, how)

    async def message(self, msg_id: str) -> MessageRecord:
        record = await self.ledger.get_message(self.tenant.id, msg_id)
        assert record is not None
        return record

    async def notices_arrived(self, count: int, timeout: float = 5.0) -> list[ReceiptNotice]:
        async with asyncio.timeout(timeout):
            while len(self.notices) < count:
                await asyncio.sleep(0.01)
        return self.notices

    def parked(self) -> list[ParkedMessage]:
        return self.bus.parked(RECEIPTS)

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture(scope="session")
def receipts_pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def tenants(tmp_path: Path, receipts_pki: DevPki) -> TenantsFile:
    return tenants_file(tmp_path, receipts_pki)


@pytest.fixture
def options() -> ReceiptsOptions:
    return ReceiptsOptions(
        credit=4,
        apprec_deadline=timedelta(hours=24),
        overdue_sweep_seconds=3600.0,
        release_delay_seconds=0.01,
    )


@pytest.fixture
async def harness(
    tenants: TenantsFile, receipts_pki: DevPki, options: ReceiptsOptions
) -> AsyncIterator[Harness]:
    server = FakeServer()
    clock = Clock()
    ledger = Ledger(FakeAsyncRedis(server=server), clock=clock)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = MemoryBroker()
    bus = MemoryBus(service_name="receipts", broker=broker, tracer_provider=provider)
    webhooks = MemoryBus(service_name="webhooks", broker=broker, tracer_provider=provider)
    nhn = InMemoryNhnBroker()
    transport = RecordingTransport(nhn)
    metrics = ServiceMetrics("receipts", registry=None)
    receipts = Receipts(
        tenants=tenants,
        decryption=load_decryption_keys(tenants),
        receivers=ReceiverDirectory(),
        ledger=ledger,
        bus=bus,
        nhn=transport,
        metrics=metrics,
        options=options,
        tracer_provider=provider,
    )
    harness = Harness(
        tenant=tenants.tenants[0],
        pki=receipts_pki,
        ledger=ledger,
        redis_server=server,
        clock=clock,
        bus=bus,
        nhn=nhn,
        transport=transport,
        receipts=receipts,
        metrics=metrics,
        spans=exporter,
    )

    async def collect(delivery: Delivery) -> None:
        harness.notices.append(ReceiptNotice.from_body(delivery.body))

    webhooks.subscribe(RECEIPTS, collect)
    receipts.register()
    await bus.start()
    await webhooks.start()
    await transport.start()
    await receipts.start()
    try:
        yield harness
    finally:
        await transport.stop()
        await bus.stop()
        await receipts.close()
        await webhooks.stop()
        broker.close()
        provider.shutdown()
