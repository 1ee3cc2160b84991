"""webhooks on the in-memory bus and fakeredis (the embedded mode's wiring): what is acknowledged
without a POST, what is parked, what is retried; the start-up's checks of the tenants file.
The HTTP behaviour against a real receiver is in tests/integration/webhooks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from kpr_gateway.ledger import DeliveryState, Ledger
from kpr_gateway.observability import GracefulShutdown, ServiceMetrics, readiness_checks
from kpr_gateway.pipeline import RECEIPTS, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import ReceiptNotice
from kpr_gateway.runtime import ServiceContext
from kpr_gateway.tenancy import TenantFileError, TenantsFile
from kpr_gateway.tenancy.webhooks import load_webhooks
from kpr_gateway.webhooks.app import Webhooks, build
from kpr_gateway.webhooks.errors import CaFileError
from kpr_gateway.webhooks.sender import HttpSender
from kpr_gateway.webhooks.settings import WebhooksSettings
from tests.support.webhook_world import (
    GERICA,
    PROFIL,
    QUIET,
    Receiver,
    SentMessage,
    put_answered_message,
    write_tenants,
)


@dataclass
class Harness:
    tenants: TenantsFile
    ledger: Ledger
    redis: FakeServer
    broker: MemoryBroker
    producer: MemoryBus
    receiver: Receiver
    metrics: ServiceMetrics

    async def handle(self, notice: ReceiptNotice) -> None:
        await self.producer.publish(RECEIPTS, notice.to_body(), message_id=str(notice.msg_id))
        await self.broker.wait_settled()

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    receiver = Receiver()
    await receiver.start()
    tenants = write_tenants(
        tmp_path, {GERICA: receiver.url(GERICA), PROFIL: receiver.url(PROFIL), QUIET: None}
    )
    server = FakeServer()
    ledger = Ledger(FakeAsyncRedis(server=server))
    broker = MemoryBroker(queues=(RECEIPTS,), delay_scale=0.001)
    bus = MemoryBus(service_name="webhooks", broker=broker, max_attempts=2)
    producer = MemoryBus(service_name="receipts", broker=broker)
    metrics = ServiceMetrics("webhooks")
    webhooks = Webhooks(
        tenants=tenants,
        targets=load_webhooks(tenants, allow_insecure_urls=True),
        ledger=ledger,
        bus=bus,
        sender=HttpSender(timeout_seconds=5),
        metrics=metrics,
        max_attempts=2,
    )
    webhooks.register()
    await bus.start()
    await producer.start()
    await webhooks.start()
    try:
        yield Harness(tenants, ledger, server, broker, producer, receiver, metrics)
    finally:
        await producer.stop()
        await bus.stop()
        await webhooks.close()
        broker.close()
        await receiver.stop()


async def test_events_of_clients_without_a_webhook_are_acknowledged_without_a_post(
    harness: Harness,
) -> None:
    sent = await put_answered_message(harness.ledger, {QUIET: 2, None: 1})
    await harness.handle(sent.notice)
    assert harness.receiver.requests == []
    assert harness.broker.parked(RECEIPTS) == []
    assert harness.count("kprgw_webhooks_notices_without_webhook_total", tenant="bergen") == 1
    assert await harness.ledger.webhooks.deliveries("bergen", [sent.msg_id]) == {sent.msg_id: []}


async def test_a_delivery_on_the_in_memory_bus_reaches_the_receiver(harness: Harness) -> None:
    sent = await put_answered_message(harness.ledger, {GERICA: 1, PROFIL: 1})
    await harness.handle(sent.notice)
    assert sorted(r.path for r in harness.receiver.requests) == [
        f"/hooks/{GERICA}",
        f"/hooks/{PROFIL}",
    ]
    deliveries = (await harness.ledger.webhooks.deliveries("bergen", [sent.msg_id]))[sent.msg_id]
    assert [(d.client_id, d.state) for d in deliveries] == [
        (GERICA, DeliveryState.DELIVERED),
        (PROFIL, DeliveryState.DELIVERED),
    ]


async def test_a_notice_of_an_unknown_tenant_is_parked(harness: Harness) -> None:
    sent = await put_answered_message(harness.ledger, {GERICA: 1})
    stranger = sent.notice.model_copy(update={"tenant_id": "nowhere"})
    await harness.handle(stranger)
    [parked] = harness.broker.parked(RECEIPTS)
    assert parked.reason == f"notice for message {sent.msg_id} names unknown tenant nowhere"
    assert harness.receiver.requests == []


async def test_a_notice_of_a_message_the_ledger_lost_is_parked(harness: Harness) -> None:
    notice = (await put_answered_message(harness.ledger, {GERICA: 1})).notice
    unknown = notice.model_copy(update={"msg_id": uuid.uuid4()})
    await harness.handle(unknown)
    [parked] = harness.broker.parked(RECEIPTS)
    assert parked.reason == f"tenant bergen: no KPR message {unknown.msg_id} in the ledger"


async def test_an_unreachable_ledger_is_retried_then_parked(harness: Harness) -> None:
    sent: SentMessage = await put_answered_message(harness.ledger, {GERICA: 1})
    harness.redis.connected = False
    await harness.handle(sent.notice)
    [parked] = harness.broker.parked(RECEIPTS)
    assert parked.reason.startswith("gave up after 2 attempts; last: ledger unreachable")
    assert harness.receiver.requests == []


async def test_the_start_up_refuses_http_webhooks_and_an_unreadable_ca_file(
    tmp_path: Path,
) -> None:
    tenants = write_tenants(tmp_path, {GERICA: "http://127.0.0.1:9/hooks?token=secret"})
    tenants_file = tmp_path / "tenants.yaml"
    broker = MemoryBroker()
    context = ServiceContext(
        name="webhooks",
        tenants=tenants,
        ledger=Ledger(FakeAsyncRedis()),
        bus=MemoryBus(service_name="webhooks", broker=broker),
        metrics=ServiceMetrics("webhooks"),
        readiness=readiness_checks({}),
        drain=GracefulShutdown(),
    )
    with pytest.raises(TenantFileError, match="not https") as refused:
        build(context, WebhooksSettings(tenants_file=tenants_file))
    assert "token" not in str(refused.value)
    allowed = WebhooksSettings(tenants_file=tenants_file, allow_insecure_urls=True)
    component = build(context, allowed)
    await component.close()
    unreadable = allowed.model_copy(update={"ca_file": tmp_path / "missing-ca.pem"})
    with pytest.raises(CaFileError, match=r"missing-ca\.pem"):
        build(context, unreadable)
