"""intake and transform on the real RabbitMQ and Redis: confirms, acks, batching, parking."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import DEMO_EPJ_SYSTEM, DemoWorld, create_world
from kpr_gateway.intake.app import IntakeLimits, create_app
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.ledger import KeySpace, Ledger
from kpr_gateway.messages.iplos_kpr import GUID_EMPTY, MSG_TYPE, Notification, parse_melding
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, MESSAGES, Delivery, RabbitBus
from kpr_gateway.pipeline.contracts import AcceptedEvent, BuiltMessage, EventChunk
from kpr_gateway.tenancy import load_tenants
from kpr_gateway.transform.app import BatchLimits, Transform

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


class Pipeline:
    def __init__(self, world: DemoWorld, prefix: str, redis: Redis) -> None:
        tenants = load_tenants(world.tenants_file)
        self.ledger = Ledger(redis, keys=KeySpace(prefix))
        options = {"prefix": prefix, "retry_delays": (0.2, 0.4), "max_attempts": 3}
        self.intake_bus = RabbitBus(RABBIT_URL, service_name="intake", **options)  # type: ignore[arg-type]
        self.transform_bus = RabbitBus(RABBIT_URL, service_name="transform", **options)  # type: ignore[arg-type]
        self.tap_bus = RabbitBus(RABBIT_URL, service_name="envelope", **options)  # type: ignore[arg-type]
        self.transform = Transform(
            tenants=tenants,
            ledger=self.ledger,
            bus=self.transform_bus,
            metrics=ServiceMetrics("transform"),
            limits=BatchLimits(max_events=100, max_age_seconds=0.2, prefetch=16),
        )
        app = create_app(
            tenants=tenants,
            ledger=self.ledger,
            bus=self.intake_bus,
            limiter=RateLimiter(redis, per_second=1000, prefix=prefix),
            limits=IntakeLimits(max_batch_events=100, max_body_bytes=1 << 20, chunk_events=10),
            metrics=ServiceMetrics("intake"),
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        )
        self.built: list[BuiltMessage] = []

    async def record(self, delivery: Delivery) -> None:
        self.built.append(BuiltMessage.from_body(delivery.body))

    async def start(self) -> None:
        self.transform.register()
        self.tap_bus.subscribe(MESSAGES, self.record)
        for bus in (self.intake_bus, self.transform_bus, self.tap_bus):
            await bus.start()

    async def stop(self) -> None:
        await self.client.aclose()
        for bus in (self.intake_bus, self.transform_bus, self.tap_bus):
            await bus.stop()
        await self.transform.close()

    async def wait_built(self, count: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.built) < count:
                await asyncio.sleep(0.05)


@pytest.fixture
async def pipeline(world: DemoWorld) -> AsyncIterator[Pipeline]:
    prefix = f"kprgw-it-{uuid.uuid4().hex[:10]}"
    redis = Redis(host="127.0.0.1", port=6379)
    pipeline = Pipeline(world, prefix, redis)
    await pipeline.start()
    yield pipeline
    await pipeline.stop()
    names = {spec.name for spec in pipeline.intake_bus.topology.specs()}
    connection = await aio_pika.connect(RABBIT_URL)
    async with connection:
        channel = await connection.channel()
        for name in sorted(names):
            await channel.queue_delete(name)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def test_posted_events_are_batched_into_kpr_messages(
    pipeline: Pipeline, world: DemoWorld
) -> None:
    rng = random.Random(3)
    events = [event(rng, "4601") for _ in range(25)]
    response = await pipeline.client.post(
        "/v1/events/batch",
        json=events,
        headers={"Authorization": f"Bearer {world.api_keys['bergen']}"},
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 25
    await pipeline.wait_built(1)
    await asyncio.sleep(0.5)  # nothing else arrives: one batch, built once, one message
    [built] = pipeline.built
    assert built.msg_type == MSG_TYPE
    assert sorted(map(str, built.event_ids)) == sorted(e["event_id"] for e in events)
    melding = parse_melding(parse_msghead(built.document).document)
    # the EPJ system of the client that posted them, and the municipality's chain from 1
    assert (melding.header.vendor, melding.header.system_name) == (
        DEMO_EPJ_SYSTEM["vendor"],
        DEMO_EPJ_SYSTEM["name"],
    )
    notifications = melding.notifications
    assert [n.seq for n in notifications] == list(range(1, 26))
    assert [n.previous for n in notifications] == [
        GUID_EMPTY,
        *(n.event_id for n in notifications[:-1]),
    ]
    assert {str(n.event_id) for n in notifications} == {e["event_id"] for e in events}
    for item in events:
        record = await pipeline.ledger.get_event("bergen", item["event_id"])
        assert record is not None
        assert record.status == "built"
        assert record.accepted


async def test_a_chunk_for_an_unknown_tenant_is_parked_on_rabbitmq(pipeline: Pipeline) -> None:
    notification = Notification.model_validate(event(random.Random(1), "4601"))
    chunk = EventChunk(
        tenant_id="nowhere",
        chunk_id=uuid.uuid4(),
        events=[
            AcceptedEvent(
                event_id=notification.event_id,
                received_at=datetime.now(UTC),
                event=notification,
                client_id="bergen-epj",
                trace_id=uuid.uuid4().hex,
            )
        ],
    )
    await pipeline.intake_bus.publish(EVENTS, chunk.to_body(), message_id=str(chunk.chunk_id))
    parked_queue = pipeline.intake_bus.topology.work_queue(EVENTS).parked.name
    connection = await aio_pika.connect(RABBIT_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(parked_queue, passive=True)
        async with asyncio.timeout(10):
            while (message := await queue.get(fail=False)) is None:
                await asyncio.sleep(0.05)
        await message.ack()
    assert message.message_id == str(chunk.chunk_id)
    assert "unknown tenant" in str(message.headers["x-park-reason"])
    assert pipeline.built == []
