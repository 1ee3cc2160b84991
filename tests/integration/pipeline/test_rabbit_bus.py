"""RabbitBus on the real broker: confirms, acks, retries through TTL queues, parking, shutdown."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

import pytest
from aio_pika import Message
from aio_pika.abc import AbstractChannel
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kpr_gateway.pipeline import (
    Bus,
    BusError,
    Delivery,
    PermanentError,
    PublishError,
    RabbitBus,
    TransientError,
)
from kpr_gateway.pipeline.queues import EVENTS
from tests.support.rabbit import depth, get_one

from .conftest import WORK, BusFactory

CONSUMER_PROCESS = Path(__file__).with_name("consumer_process.py")


class Recorder:
    """Records deliveries (with arrival times); optionally fails the first attempts."""

    def __init__(self, fail_until: int = 0, error: Exception | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self.times: list[float] = []
        self.fail_until = fail_until
        self.error = error or TransientError("dependency unavailable")
        self.done = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.times.append(time.monotonic())
        if delivery.attempt <= self.fail_until:
            raise self.error
        self.done.set()

    @property
    def attempts(self) -> list[int]:
        return [d.attempt for d in self.deliveries]


async def wait_for_count(recorder: Recorder, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(recorder.deliveries) < count:
        assert time.monotonic() < deadline, f"saw {len(recorder.deliveries)} of {count}"
        await asyncio.sleep(0.02)


async def test_publish_is_confirmed_and_consumed(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    handler = Recorder()
    bus.subscribe(WORK, handler)
    await bus.start()
    assert await bus.ping()
    await bus.publish(WORK, b"payload", message_id="m-1", headers={"tenant": "oslo"})
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    [delivery] = handler.deliveries
    assert (delivery.body, delivery.message_id, delivery.queue, delivery.attempt) == (
        b"payload",
        "m-1",
        WORK,
        1,
    )
    assert delivery.headers["tenant"] == "oslo"
    await bus.stop()
    assert not await bus.ping()
    assert await depth(channel, bus.topology.physical(WORK)) == 0


async def test_a_handled_message_is_freed_without_the_cycle_collector(
    make_bus: BusFactory,
) -> None:
    """A consumed message (a chunk is megabytes) is freed when it is settled, not when the
    collector next finds it in a reference cycle."""
    bus = make_bus()
    handler = Recorder()
    bus.subscribe(WORK, handler)
    await bus.start()
    gc.collect()
    gc.disable()
    try:
        await bus.publish(WORK, b"payload", message_id="m-gc")
        await asyncio.wait_for(handler.done.wait(), timeout=10)
        await asyncio.sleep(0.2)  # the settlement after the handler
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kinds = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        await bus.stop()
    assert not kinds & {"RabbitMessage", "IncomingMessage"}


async def test_permanent_error_parks_the_message_with_its_reason(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    handler = Recorder(fail_until=99, error=PermanentError("signature does not verify"))
    bus.subscribe(WORK, handler)
    await bus.start()
    await bus.publish(WORK, b"payload", message_id="m-1", headers={"tenant": "oslo"})
    parked = await get_one(channel, bus.topology.work_queue(WORK).parked.name)
    assert parked.body == b"payload"
    assert parked.message_id == "m-1"
    assert parked.headers["x-park-reason"] == "signature does not verify"
    assert parked.headers["x-park-service"] == "test-service"
    assert parked.headers["x-original-queue"] == WORK
    assert parked.headers["x-attempt"] == "1"
    assert parked.headers["tenant"] == "oslo"
    assert handler.attempts == [1]
    await bus.stop()
    assert await depth(channel, bus.topology.physical(WORK)) == 0


async def test_transient_error_is_retried_through_the_retry_queue(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    handler = Recorder(fail_until=1)
    bus.subscribe(WORK, handler)
    await bus.start()
    await bus.publish(WORK, b"payload", message_id="m-1", headers={"tenant": "oslo"})
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    assert handler.attempts == [1, 2]
    retried = handler.deliveries[1]
    assert (retried.body, retried.message_id, retried.headers["tenant"]) == (
        b"payload",
        "m-1",
        "oslo",
    )
    assert "x-death" not in retried.headers  # tables are not text headers
    assert handler.times[1] - handler.times[0] >= 0.18  # the first step's TTL (0.2 s)
    await bus.stop()
    work = bus.topology.work_queue(WORK)
    assert await depth(channel, work.parked.name) == 0
    for step in work.retries:
        assert await depth(channel, step.queue.name) == 0


async def test_max_attempts_parks_with_the_last_reason(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    # Two retry queues and four attempts: the last retry queue is used twice, which
    # RabbitMQ would treat as a dead-letter cycle (and drop) if x-death were carried.
    bus = make_bus(max_attempts=4)
    handler = Recorder(fail_until=99)
    bus.subscribe(WORK, handler)
    await bus.start()
    await bus.publish(WORK, b"payload", message_id="m-1")
    parked = await get_one(channel, bus.topology.work_queue(WORK).parked.name)
    assert handler.attempts == [1, 2, 3, 4]
    assert parked.headers["x-park-reason"] == (
        "gave up after 4 attempts; last: dependency unavailable"
    )
    assert parked.headers["x-attempt"] == "4"
    assert parked.body == b"payload"


async def test_unsettleable_message_is_parked_by_the_delivery_limit(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus(delivery_limit=2)
    handler = Recorder(fail_until=99)
    bus.subscribe(WORK, handler)
    await bus.start()
    work = bus.topology.work_queue(WORK)
    await channel.queue_delete(work.retries[0].queue.name)  # the retry copy cannot be sent
    await bus.publish(WORK, b"payload", message_id="m-1")
    parked = await get_one(channel, work.parked.name)
    assert parked.body == b"payload"
    assert parked.headers["x-first-death-reason"] == "delivery_limit"
    assert handler.attempts == [1, 1, 1]  # returned to the queue each time, never lost


async def test_unroutable_publish_raises_and_the_bus_keeps_working(
    make_bus: BusFactory,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus: Bus = make_bus(tracer_provider=provider)
    handler = Recorder()
    bus.subscribe(WORK, handler)
    await bus.start()
    with pytest.raises(PublishError, match="unroutable"):
        await bus.publish("nowhere", b"payload", message_id="m-1")
    await bus.publish(WORK, b"payload", message_id="m-1")
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    provider.shutdown()
    [failed] = [s for s in exporter.get_finished_spans() if s.name == "nowhere publish"]
    assert failed.status.status_code is StatusCode.ERROR


async def test_stop_cancels_consuming_then_waits_for_the_in_flight_handler(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    started = asyncio.Event()
    finished_at: list[float] = []

    async def slow(delivery: Delivery) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished_at.append(time.monotonic())

    bus.subscribe(WORK, slow, prefetch=1)
    await bus.start()
    await bus.publish(WORK, b"first", message_id="m-1")
    await bus.publish(WORK, b"second", message_id="m-2")
    await asyncio.wait_for(started.wait(), timeout=10)
    await bus.stop()
    stopped_at = time.monotonic()

    assert len(finished_at) == 1
    assert finished_at[0] <= stopped_at
    # The first was acked exactly once; the second was never handed to this consumer
    # (cancelled before the first's ack freed the prefetch slot), so it is not redelivered.
    queue = bus.topology.physical(WORK)
    assert await depth(channel, queue) == 1
    second = await get_one(channel, queue)
    assert second.body == b"second"
    assert not second.redelivered
    assert await depth(channel, queue) == 0


async def test_handler_past_the_graceful_timeout_is_cut_off_and_redelivered(
    make_bus: BusFactory,
) -> None:
    first = make_bus(graceful_timeout=0.2)
    started = asyncio.Event()

    async def stuck(_: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    first.subscribe(WORK, stuck)
    await first.start()
    await first.publish(WORK, b"payload", message_id="m-1")
    await asyncio.wait_for(started.wait(), timeout=10)
    await asyncio.wait_for(first.stop(), timeout=5)

    second = make_bus()
    handler = Recorder()
    second.subscribe(WORK, handler)
    await second.start()
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    assert [d.message_id for d in handler.deliveries] == ["m-1"]


async def test_consumer_killed_without_ack_loses_nothing(
    make_bus: BusFactory, channel: AbstractChannel, rabbit_url: str, prefix: str
) -> None:
    publisher = make_bus()
    await publisher.start()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONSUMER_PROCESS),
        rabbit_url,
        prefix,
        WORK,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line == b"ready\n"
        await publisher.publish(WORK, b"payload", message_id="m-1")
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        assert line == b"got m-1\n"
    finally:
        process.kill()
        await process.wait()

    survivor = make_bus()
    handler = Recorder()
    survivor.subscribe(WORK, handler)
    await survivor.start()
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    assert [(d.message_id, d.body) for d in handler.deliveries] == [("m-1", b"payload")]
    await survivor.stop()
    assert await depth(channel, survivor.topology.physical(WORK)) == 0


async def test_delivery_limit_dead_letters_a_poison_message_to_parking(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus(delivery_limit=2)
    await bus.start()
    await bus.publish(WORK, b"poison", message_id="m-1")
    work = bus.topology.work_queue(WORK)
    queue = await channel.declare_queue(work.queue.name, passive=True)
    # A consumer that keeps failing without settling: each return counts as a delivery.
    for _ in range(3):
        message = await queue.get(timeout=5)
        await message.nack(requeue=True)
    parked = await get_one(channel, work.parked.name)
    assert parked.body == b"poison"
    assert parked.headers["x-first-death-reason"] == "delivery_limit"


async def test_topology_is_declared_idempotently_and_conflicts_are_refused(
    make_bus: BusFactory,
) -> None:
    await make_bus().start()
    await make_bus().start()
    conflicting = make_bus(retry_delays=(0.3, 0.4))
    with pytest.raises(BusError, match="exists with other arguments"):
        await conflicting.start()
    assert not await conflicting.ping()


async def test_unreachable_broker_is_a_bus_error() -> None:
    bus = RabbitBus(
        "amqp://guest:secret@127.0.0.1:1/", service_name="test-service", connect_timeout=2
    )
    with pytest.raises(BusError, match=r"127\.0\.0\.1:1") as info:
        await bus.start()
    assert "secret" not in str(info.value)
    with pytest.raises(BusError):
        await bus.publish(WORK, b"x", message_id="m-1")


async def test_trace_context_travels_through_rabbitmq(make_bus: BusFactory) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = make_bus(tracer_provider=provider)
    handler = Recorder()
    bus.subscribe(WORK, handler)
    await bus.start()
    with provider.get_tracer("test").start_as_current_span("POST /v1/events") as request:
        await bus.publish(WORK, b"payload", message_id="m-1")
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    await bus.stop()
    provider.shutdown()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    publish, process = spans["work publish"], spans["work process"]
    assert publish.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert process.context.trace_id == request.get_span_context().trace_id
    assert process.attributes is not None
    assert process.attributes["messaging.system"] == "rabbitmq"
    assert process.attributes["messaging.message.id"] == "m-1"


async def test_foreign_messages_without_bus_headers_are_handled(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    handler = Recorder()
    bus.subscribe(WORK, handler)
    await bus.start()
    await channel.default_exchange.publish(
        Message(b"raw", headers={"x-attempt": "oops", "n": 1}),
        routing_key=bus.topology.physical(WORK),
    )
    await asyncio.wait_for(handler.done.wait(), timeout=10)
    [delivery] = handler.deliveries
    assert delivery.attempt == 1
    assert delivery.body == b"raw"
    assert delivery.headers["n"] == "1"


async def test_publish_nacked_by_the_broker_raises(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    await bus.start()
    full = bus.topology.physical("full")
    # A queue that takes nothing: RabbitMQ answers each publish with basic.nack.
    await channel.declare_queue(
        full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}, auto_delete=False
    )
    try:
        with pytest.raises(PublishError, match="nack"):
            await bus.publish("full", b"payload", message_id="m-1")
    finally:
        await channel.queue_delete(full)


async def test_park_puts_an_outside_message_on_the_parking_queue(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus()
    await bus.start()
    await bus.park(
        WORK, b"raw", message_id="nhn-1", reason="AppRec for no known message", headers={"q": "a"}
    )
    parked = await get_one(channel, bus.topology.work_queue(WORK).parked.name)
    assert (parked.body, parked.message_id) == (b"raw", "nhn-1")
    assert parked.headers["x-park-reason"] == "AppRec for no known message"
    assert parked.headers["x-original-queue"] == WORK
    assert parked.headers["q"] == "a"
    with pytest.raises(BusError, match="not part of the topology"):
        await bus.park("nowhere", b"", message_id="x", reason="r")
    await bus.stop()


async def test_events_has_one_active_consumer_and_the_next_takes_over(
    make_bus: BusFactory,
) -> None:
    """Two transform replicas on ``events``: one gets everything; when it stops, the other."""
    first, second = Recorder(), Recorder()
    active = make_bus(queues=(EVENTS,))
    standby = make_bus(queues=(EVENTS,))
    active.subscribe(EVENTS, first, prefetch=4)
    standby.subscribe(EVENTS, second, prefetch=4)
    await active.start()
    await standby.start()
    for number in range(20):
        await active.publish(EVENTS, b"chunk", message_id=f"before-{number}")
    await wait_for_count(first, 20)
    await asyncio.sleep(0.2)
    assert second.deliveries == []  # ready and consuming, but not the active one

    await active.stop()
    for number in range(5):
        await standby.publish(EVENTS, b"chunk", message_id=f"after-{number}")
    await wait_for_count(second, 5)
    assert [d.message_id for d in second.deliveries] == [f"after-{n}" for n in range(5)]
    assert len(first.deliveries) == 20
