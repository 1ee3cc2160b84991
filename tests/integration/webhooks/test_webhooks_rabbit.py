"""webhooks on the local RabbitMQ and Redis, POSTing to a real HTTP receiver on a free port:
delivered once, delivered on a retry, parked after the retries, a failing client never makes
another client's delivery repeat; the backlog gauge; the event view of the API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpr_gateway.intake.app import IntakeLimits, create_app
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.ledger import DeliveryState, WebhookDelivery
from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.pipeline import RECEIPTS, MemoryBus, RabbitBus
from kpr_gateway.pipeline.delivery import PARK_REASON_HEADER
from kpr_gateway.pipeline.queues import RECEIPTS_MAX_LENGTH
from kpr_gateway.tenancy import TenantsFile
from kpr_gateway.tenancy.webhooks import load_webhooks
from kpr_gateway.webhooks.app import Webhooks
from kpr_gateway.webhooks.sender import HttpSender
from tests.integration.envelope.infra import Infra, rabbit_and_redis, wait_until
from tests.support.webhook_world import (
    GERICA,
    PROFIL,
    QUIET,
    Receiver,
    SentMessage,
    client_secret,
    put_answered_message,
    verify_as_an_epj_would,
    write_tenants,
)

MAX_ATTEMPTS = 3
"""As the infra's buses: the first try and two retries (0.2 s, 0.4 s), then parked."""


@dataclass
class Running:
    infra: Infra
    tenants: TenantsFile
    receiver: Receiver
    webhooks: Webhooks
    producer: RabbitBus
    metrics: ServiceMetrics

    async def publish(self, sent: SentMessage) -> None:
        """What receipts does once the ledger has the AppRec."""
        await self.producer.publish(RECEIPTS, sent.notice.to_body(), message_id=sent.msg_id)

    async def deliveries(self, msg_id: str) -> dict[str, WebhookDelivery]:
        found = await self.infra.ledger.webhooks.deliveries("bergen", [msg_id])
        return {d.client_id: d for d in found[msg_id]}

    async def wait_state(self, msg_id: str, client_id: str, state: DeliveryState) -> None:
        async def reached() -> bool:
            delivery = (await self.deliveries(msg_id)).get(client_id)
            return delivery is not None and delivery.state is state

        await wait_until(reached)

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@asynccontextmanager
async def gateway(
    tmp_path: Path, receiver: Receiver, *, consume: bool = True
) -> AsyncIterator[Running]:
    urls = {GERICA: receiver.url(GERICA), PROFIL: receiver.url(PROFIL), QUIET: None}
    tenants = write_tenants(tmp_path, urls)
    async with rabbit_and_redis() as infra:
        metrics = ServiceMetrics("webhooks")
        bus = infra.bus("webhooks", RECEIPTS)
        webhooks = Webhooks(
            tenants=tenants,
            targets=load_webhooks(tenants, allow_insecure_urls=True),
            ledger=infra.ledger,
            bus=bus,
            sender=HttpSender(timeout_seconds=5),
            metrics=metrics,
            max_attempts=MAX_ATTEMPTS,
            tracer_provider=infra.tracer_provider,
        )
        if consume:
            webhooks.register()
        producer = infra.bus("receipts", RECEIPTS)
        await bus.start()
        await producer.start()
        await webhooks.start()
        try:
            yield Running(infra, tenants, receiver, webhooks, producer, metrics)
        finally:
            await bus.stop()
            await webhooks.close()


async def settle(running: Running) -> None:
    """Give a wrongly repeated POST time to show up."""
    await asyncio.sleep(1.0)
    assert await running.producer.queue_depth(RECEIPTS) == 0


async def test_a_receipt_is_delivered_once_signed_with_the_client_s_own_events(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with gateway(tmp_path, receiver) as running:
        sent = await put_answered_message(
            running.infra.ledger, {GERICA: 2, QUIET: 1, None: 1}, status_code=2
        )
        await running.publish(sent)
        await running.wait_state(sent.msg_id, GERICA, DeliveryState.DELIVERED)
        await settle(running)

        [request] = receiver.requests  # none to the client without a webhook or events
        assert request.path == f"/hooks/{GERICA}"
        assert verify_as_an_epj_would(
            client_secret(GERICA), request.headers, request.body, now=time.time()
        )
        delivery_id = str(uuid.uuid5(uuid.UUID(sent.msg_id), GERICA))
        assert request.headers["kprgw-delivery"] == delivery_id
        assert request.headers["content-type"] == "application/json"
        body = request.json()
        assert body == {
            "type": "receipt",
            "delivery_id": delivery_id,
            "tenant_id": "bergen",
            "client_id": GERICA,
            "msg_id": sent.msg_id,
            "msg_type": "KPR_IPL",
            "outcome": "rejected",
            "status_code": 2,
            "errors": [{"code": "X99", "system": "8221", "text": "Avvist", "ref": None}],
            "received_at": "2026-01-06T08:30:00Z",
            "events": [{"event_id": e, "status": "rejected"} for e in sent.events[GERICA]],
        }
        delivered = (await running.deliveries(sent.msg_id))[GERICA]
        assert (delivered.attempts, delivered.last_status, delivered.last_error) == (1, 200, None)
        assert delivered.delivered_at is not None
        assert list(await running.deliveries(sent.msg_id)) == [GERICA]
        labels = {"tenant": "bergen", "client": GERICA}
        assert running.count("kprgw_webhooks_deliveries_total", **labels, outcome="delivered") == 1


async def test_a_receiver_that_fails_first_gets_it_on_the_retry(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answer(GERICA, [503, 200])
    async with gateway(tmp_path, receiver) as running:
        sent = await put_answered_message(running.infra.ledger, {GERICA: 1}, status_code=1)
        await running.publish(sent)
        await running.wait_state(sent.msg_id, GERICA, DeliveryState.DELIVERED)
        await settle(running)

        first, second = receiver.of(GERICA)
        assert first.body == second.body  # the same body: only the signature's time moves
        assert first.headers["kprgw-delivery"] == second.headers["kprgw-delivery"]
        for request in (first, second):
            assert verify_as_an_epj_would(
                client_secret(GERICA), request.headers, request.body, now=time.time()
            )
        delivered = (await running.deliveries(sent.msg_id))[GERICA]
        assert (delivered.state, delivered.attempts, delivered.last_status) == (
            DeliveryState.DELIVERED,
            2,
            200,
        )
        assert first.json()["events"] == [
            {"event_id": sent.events[GERICA][0], "status": "acknowledged"}
        ]

        # and the EPJ sees it in the event's status
        [event_id] = sent.events[GERICA]
        shown = await event_view(running, event_id)
        [message] = shown["webhooks"]
        assert message["msg_id"] == sent.msg_id
        [delivery] = message["deliveries"]
        assert (delivery["client_id"], delivery["state"], delivery["attempts"]) == (
            GERICA,
            "delivered",
            2,
        )
        assert delivery["last_attempt_at"] is not None
        assert delivery["delivered_at"] is not None


async def test_a_receiver_that_keeps_failing_has_the_notice_parked_with_the_reason(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answer(GERICA, [500])
    async with gateway(tmp_path, receiver) as running:
        sent = await put_answered_message(running.infra.ledger, {GERICA: 1})
        await running.publish(sent)
        parked = await running.infra.take_parked(RECEIPTS)
        assert parked.message_id == sent.msg_id
        reason = str((parked.headers or {})[PARK_REASON_HEADER])
        assert reason == (
            f"tenant bergen: receipt of {sent.msg_id} not delivered after {MAX_ATTEMPTS} "
            f"attempts: client {GERICA}: HTTP 500"
        )
        assert "receiver's own words" not in reason
        assert len(receiver.of(GERICA)) == MAX_ATTEMPTS
        failed = (await running.deliveries(sent.msg_id))[GERICA]
        assert (failed.state, failed.attempts, failed.last_status, failed.last_error) == (
            DeliveryState.FAILED,
            MAX_ATTEMPTS,
            500,
            "HTTP 500",
        )
        assert failed.delivered_at is None
        labels = {"tenant": "bergen", "client": GERICA}
        assert running.count("kprgw_webhooks_deliveries_total", **labels, outcome="failed") == 2
        assert running.count("kprgw_webhooks_deliveries_total", **labels, outcome="gave_up") == 1


async def test_a_failing_client_does_not_make_another_s_delivery_repeat(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answer(PROFIL, [503, 503, 200])
    async with gateway(tmp_path, receiver) as running:
        sent = await put_answered_message(running.infra.ledger, {GERICA: 2, PROFIL: 1})
        await running.publish(sent)
        await running.wait_state(sent.msg_id, PROFIL, DeliveryState.DELIVERED)
        await settle(running)

        assert len(receiver.of(PROFIL)) == 3
        [only] = receiver.of(GERICA)
        assert [e["event_id"] for e in only.json()["events"]] == sent.events[GERICA]
        [profil_events] = [r.json()["events"] for r in receiver.of(PROFIL)][-1:]
        assert [e["event_id"] for e in profil_events] == sent.events[PROFIL]
        deliveries = await running.deliveries(sent.msg_id)
        assert (deliveries[GERICA].attempts, deliveries[PROFIL].attempts) == (1, 3)
        assert running.count("kprgw_webhooks_skipped_total", tenant="bergen") == 2


async def test_a_notice_published_twice_is_delivered_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    """receipts publishes the notice again after a crash before settling on NHN."""
    async with gateway(tmp_path, receiver) as running:
        sent = await put_answered_message(running.infra.ledger, {GERICA: 1})
        await running.publish(sent)
        await running.wait_state(sent.msg_id, GERICA, DeliveryState.DELIVERED)
        await running.publish(sent)
        await settle(running)
        assert len(receiver.of(GERICA)) == 1
        assert running.count("kprgw_webhooks_skipped_total", tenant="bergen") == 1


async def test_the_backlog_gauge_reads_the_queue_depth_from_the_broker(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with gateway(tmp_path, receiver, consume=False) as running:
        for _ in range(3):
            sent = await put_answered_message(running.infra.ledger, {GERICA: 1})
            await running.publish(sent)
        await running.webhooks.read_backlog()
        assert running.count("kprgw_webhooks_queue_depth", queue=RECEIPTS) == 3
        assert running.count("kprgw_webhooks_queue_limit", queue=RECEIPTS) == RECEIPTS_MAX_LENGTH
        assert receiver.requests == []


async def event_view(running: Running, event_id: str) -> dict[str, Any]:
    """``GET /v1/events/{id}`` as the client that submitted the event (its key is its id)."""
    ledger = running.infra.ledger
    app = create_app(
        tenants=running.tenants,
        ledger=ledger,
        bus=MemoryBus(service_name="intake"),
        limiter=RateLimiter(ledger.redis, per_second=50, prefix=running.infra.prefix),
        limits=IntakeLimits(max_batch_events=10, max_body_bytes=65536, chunk_events=10),
        metrics=ServiceMetrics("intake"),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        answer = await client.get(
            f"/v1/events/{event_id}", headers={"Authorization": f"Bearer {GERICA}"}
        )
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown
