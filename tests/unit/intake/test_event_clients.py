"""The ledger keeps each event's EPJ client (its webhook is told the receipts), also when the
requests of several clients are committed together; and ``GET /v1/events/{id}`` shows, per
message that carried the event, the deliveries to that client's webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.intake.app import IntakeLimits, create_app
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.intake.submission import Submitter
from kpr_gateway.ledger import BatchMessage, DeliveryState, Ledger
from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, Delivery, MemoryBroker, MemoryBus
from tests.support.webhook_world import GERICA, PROFIL, write_tenants
from tests.unit.intake.test_submission import CountingBus, events, trace


async def test_a_group_of_two_clients_keeps_each_event_s_client() -> None:
    broker = MemoryBroker(delay_scale=0)
    bus = CountingBus(service_name="intake", broker=broker)
    consumer = MemoryBus(service_name="transform", broker=broker)
    ledger = Ledger(FakeAsyncRedis())
    submitter = Submitter(ledger, bus, chunk_events=50, max_groups=1)

    async def ignore(delivery: Delivery) -> None:
        del delivery

    consumer.subscribe(EVENTS, ignore)
    await bus.start()
    await consumer.start()
    try:
        batch = events(5, seed=11)
        bus.gate.clear()  # the first request's publish waits: the others form one group
        blocker = asyncio.create_task(
            submitter.submit("bergen", batch[:1], trace_id=trace(1), client_id=GERICA)
        )
        await asyncio.sleep(0.01)
        senders = [GERICA, PROFIL, GERICA, None]
        tasks = [
            asyncio.create_task(
                submitter.submit("bergen", [one], trace_id=trace(n), client_id=client)
            )
            for n, (one, client) in enumerate(zip(batch[1:], senders, strict=True), start=2)
        ]
        await asyncio.sleep(0.01)
        bus.gate.set()
        await blocker
        await asyncio.gather(*tasks)
        for one, client in zip(batch, [GERICA, *senders], strict=True):
            record = await ledger.get_event("bergen", str(one.event_id))
            assert record is not None
            assert (record.client_id, record.accepted) == (client, True)
        # the first alone, then one commit per client of the group that waited
        assert bus.publishes == 4
    finally:
        await consumer.stop()
        await bus.stop()


def key(client_id: str) -> dict[str, str]:
    """The test world's API key of a client is its id (the file holds its SHA-256)."""
    return {"Authorization": f"Bearer {client_id}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Ledger]]:
    tenants = write_tenants(tmp_path, {GERICA: "https://epj.example.org/hook", PROFIL: None})
    ledger = Ledger(FakeAsyncRedis())
    bus = MemoryBus(service_name="intake", broker=MemoryBroker(delay_scale=0))
    app = create_app(
        tenants=tenants,
        ledger=ledger,
        bus=bus,
        limiter=RateLimiter(ledger.redis, per_second=100),
        limits=IntakeLimits(max_batch_events=5, max_body_bytes=65536, chunk_events=5),
        metrics=ServiceMetrics("intake"),
    )
    transport = httpx.ASGITransport(app=app)
    await bus.start()
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield client, ledger
    await bus.stop()


async def test_the_event_view_shows_its_client_s_webhook_deliveries_per_message(
    api: tuple[httpx.AsyncClient, Ledger],
) -> None:
    client, ledger = api
    [mine] = events(1, seed=21)
    [theirs] = events(1, seed=22)
    answer = await client.post("/v1/events", json=mine.model_dump(mode="json"), headers=key(GERICA))
    assert answer.status_code == 202, answer.text
    answer = await client.post(
        "/v1/events", json=theirs.model_dump(mode="json"), headers=key(PROFIL)
    )
    assert answer.status_code == 202, answer.text

    before: dict[str, Any] = (
        await client.get(f"/v1/events/{mine.event_id}", headers=key(GERICA))
    ).json()
    assert before["event"]["client_id"] == GERICA
    assert before["webhooks"] == []  # not in a message yet

    ids = [str(mine.event_id), str(theirs.event_id)]
    commit = await ledger.commit_batch(
        "bergen",
        batch_id="b1",
        event_ids=ids,
        messages=[BatchMessage("m1", "KPR_IPL", b"<ipl/>")],
        trace_id=None,
        traceparent=None,
    )
    assert commit.committed
    webhooks = ledger.webhooks
    await webhooks.record_attempt(
        "bergen", "m1", GERICA, state=DeliveryState.RETRYING, status_code=502, error="HTTP 502"
    )
    await webhooks.record_attempt("bergen", "m1", GERICA, state=DeliveryState.DELIVERED)
    # another client's delivery of the same message carried other events: not this one's
    await webhooks.record_attempt("bergen", "m1", PROFIL, state=DeliveryState.FAILED)

    shown: dict[str, Any] = (
        await client.get(f"/v1/events/{mine.event_id}", headers=key(GERICA))
    ).json()
    [message] = shown["webhooks"]
    assert message["msg_id"] == "m1"
    [delivery] = message["deliveries"]
    assert delivery["client_id"] == GERICA
    assert (delivery["state"], delivery["attempts"]) == ("delivered", 2)
    assert delivery["last_attempt_at"] is not None
    assert delivery["delivered_at"] is not None
    assert (delivery["last_status"], delivery["last_error"]) == (None, None)

    other: dict[str, Any] = (
        await client.get(f"/v1/events/{theirs.event_id}", headers=key(GERICA))
    ).json()
    [profil_delivery] = other["webhooks"][0]["deliveries"]
    assert (profil_delivery["client_id"], profil_delivery["state"]) == (PROFIL, "failed")
