"""MemoryBus: the ack / retry / park semantics the services rely on, in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kpr_gateway.pipeline import (
    EVENTS,
    MESSAGES,
    Bus,
    BusError,
    Delivery,
    MemoryBroker,
    MemoryBus,
    PermanentError,
    PublishError,
    TransientError,
)

NATIONAL_ID = "01017012345"


def test_memory_bus_is_a_bus() -> None:
    bus: Bus = make_bus()  # checked by mypy against the protocol
    assert isinstance(bus, MemoryBus)


def make_broker(**kwargs: Any) -> MemoryBroker:
    options: dict[str, Any] = {
        "queues": (EVENTS, MESSAGES),
        "retry_delays": (1.0, 5.0),
        "delay_scale": 0.001,
    }
    options.update(kwargs)
    return MemoryBroker(**options)


def make_bus(broker: MemoryBroker | None = None, **kwargs: Any) -> MemoryBus:
    options: dict[str, Any] = {
        "service_name": "transform",
        "max_attempts": 3,
        "graceful_timeout": 2.0,
    }
    options.update(kwargs)
    return MemoryBus(broker=broker or make_broker(), **options)


class Recorder:
    """A handler that records each delivery and then behaves as told per attempt."""

    def __init__(self, behaviour: Callable[[Delivery], Any] | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self.behaviour = behaviour

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if self.behaviour is not None:
            result = self.behaviour(delivery)
            if asyncio.iscoroutine(result):
                await result

    @property
    def attempts(self) -> list[int]:
        return [d.attempt for d in self.deliveries]


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = make_bus()
    yield bus
    await bus.stop()


async def settled(bus: MemoryBus) -> None:
    await asyncio.wait_for(bus.wait_settled(), timeout=5)


async def test_handled_message_is_acked(bus: MemoryBus) -> None:
    handler = Recorder()
    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, b"body", message_id="m-1", headers={"tenant": "oslo"})
    await settled(bus)
    [delivery] = handler.deliveries
    assert (delivery.body, delivery.message_id, delivery.queue, delivery.attempt) == (
        b"body",
        "m-1",
        EVENTS,
        1,
    )
    assert delivery.headers["tenant"] == "oslo"
    assert bus.parked(EVENTS) == []
    assert bus.depth(EVENTS) == 0


async def test_permanent_error_parks_with_reason_and_is_not_retried(bus: MemoryBus) -> None:
    def refuse(_: Delivery) -> None:
        raise PermanentError("bad signature on message m-1")

    handler = Recorder(refuse)
    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, b"body", message_id="m-1", headers={"tenant": "oslo"})
    await settled(bus)
    assert handler.attempts == [1]
    [parked] = bus.parked(EVENTS)
    assert parked.body == b"body"
    assert parked.message_id == "m-1"
    assert parked.reason == "bad signature on message m-1"
    assert parked.headers["x-park-service"] == "transform"
    assert parked.headers["x-original-queue"] == EVENTS
    assert parked.headers["x-attempt"] == "1"
    assert parked.headers["tenant"] == "oslo"


async def test_transient_error_is_retried_then_succeeds(bus: MemoryBus) -> None:
    def flaky(delivery: Delivery) -> None:
        if delivery.attempt == 1:
            raise TransientError("ledger unavailable")

    handler = Recorder(flaky)
    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, b"body", message_id="m-1", headers={"tenant": "oslo"})
    await settled(bus)
    assert handler.attempts == [1, 2]
    assert handler.deliveries[1].body == b"body"
    assert handler.deliveries[1].headers["tenant"] == "oslo"
    assert bus.parked(EVENTS) == []


async def test_max_attempts_parks_with_the_last_reason(bus: MemoryBus) -> None:
    def always(_: Delivery) -> None:
        raise TransientError("ledger unavailable")

    handler = Recorder(always)
    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, b"body", message_id="m-1")
    await settled(bus)
    assert handler.attempts == [1, 2, 3]
    [parked] = bus.parked(EVENTS)
    assert parked.reason == "gave up after 3 attempts; last: ledger unavailable"
    assert parked.headers["x-attempt"] == "3"


async def test_foreign_exception_text_never_becomes_the_reason() -> None:
    bus = make_bus(max_attempts=1)

    def leak(_: Delivery) -> None:
        raise ValueError(f"person {NATIONAL_ID} not found")

    bus.subscribe(EVENTS, Recorder(leak))
    await bus.start()
    await bus.publish(EVENTS, b"body", message_id="m-1")
    await settled(bus)
    await bus.stop()
    [parked] = bus.parked(EVENTS)
    assert parked.reason == "gave up after 1 attempts; last: unexpected ValueError"
    assert NATIONAL_ID not in str(parked.headers)


async def test_queues_are_independent(bus: MemoryBus) -> None:
    events, messages = Recorder(), Recorder()
    bus.subscribe(EVENTS, events)
    bus.subscribe(MESSAGES, messages)
    await bus.start()
    await bus.publish(MESSAGES, b"m", message_id="m-1")
    await settled(bus)
    assert events.deliveries == []
    assert [d.queue for d in messages.deliveries] == [MESSAGES]


async def test_bus_owned_headers_are_not_carried(bus: MemoryBus) -> None:
    handler = Recorder()
    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, b"b", message_id="m-1", headers={"x-attempt": "5", "keep": "1"})
    await settled(bus)
    assert handler.attempts == [1]
    assert handler.deliveries[0].headers == {"keep": "1"}


async def test_prefetch_runs_handlers_concurrently(bus: MemoryBus) -> None:
    barrier = asyncio.Barrier(3)

    async def meet(_: Delivery) -> None:
        await asyncio.wait_for(barrier.wait(), timeout=2)

    handler = Recorder(meet)
    bus.subscribe(EVENTS, handler, prefetch=3)
    await bus.start()
    for n in range(3):
        await bus.publish(EVENTS, b"b", message_id=f"m-{n}")
    await settled(bus)
    assert bus.parked(EVENTS) == []
    assert len(handler.deliveries) == 3


async def test_stop_waits_for_in_flight_handlers() -> None:
    bus = make_bus()
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow(_: Delivery) -> None:
        started.set()
        await release.wait()
        await bus.publish(MESSAGES, b"next", message_id="m-2")  # still allowed while stopping
        finished.set()

    bus.subscribe(EVENTS, Recorder(slow))
    await bus.start()
    await bus.publish(EVENTS, b"b", message_id="m-1")
    await asyncio.wait_for(started.wait(), timeout=2)
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, timeout=2)
    assert finished.is_set()
    assert bus.depth(EVENTS) == 0
    assert bus.depth(MESSAGES) == 1
    assert await bus.ping() is False
    with pytest.raises(BusError):
        await bus.publish(EVENTS, b"b", message_id="m-2")


async def test_handler_cut_off_by_stop_leaves_its_message_queued() -> None:
    bus = make_bus(graceful_timeout=0.05)
    started = asyncio.Event()

    async def stuck(_: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    bus.subscribe(EVENTS, Recorder(stuck))
    await bus.start()
    await bus.publish(EVENTS, b"b", message_id="m-1")
    await asyncio.wait_for(started.wait(), timeout=2)
    await asyncio.wait_for(bus.stop(), timeout=2)
    assert bus.depth(EVENTS) == 1
    assert bus.parked(EVENTS) == []


async def test_pending_retries_outlive_the_bus_and_are_released_on_close() -> None:
    broker = make_broker(delay_scale=1.0, retry_delays=(60.0,))
    bus = make_bus(broker)

    def later(_: Delivery) -> None:
        raise TransientError("later")

    handler = Recorder(later)
    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, b"b", message_id="m-1")
    for _ in range(100):
        if handler.deliveries:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    await bus.stop()
    assert handler.attempts == [1]
    assert bus.depth(EVENTS) == 0  # waiting in the retry timer, like a TTL queue
    broker.close()
    assert bus.depth(EVENTS) == 1


async def test_services_share_a_broker_and_park_under_their_own_name() -> None:
    broker = make_broker()
    intake = make_bus(broker, service_name="intake")
    transform = make_bus(broker, service_name="transform")

    def refuse(_: Delivery) -> None:
        raise PermanentError("event fails the data-quality rules")

    transform.subscribe(EVENTS, Recorder(refuse))
    await intake.start()
    await transform.start()
    await intake.publish(EVENTS, b"chunk", message_id="c-1")
    await settled(intake)
    [parked] = broker.parked(EVENTS)
    assert parked.headers["x-park-service"] == "transform"
    await transform.stop()
    await intake.stop()


async def test_publish_to_an_unknown_queue_is_unroutable(bus: MemoryBus) -> None:
    await bus.start()
    with pytest.raises(PublishError, match="unroutable"):
        await bus.publish("nowhere", b"b", message_id="m-1")


async def test_misuse_is_refused(bus: MemoryBus) -> None:
    with pytest.raises(BusError):
        await bus.publish(EVENTS, b"b", message_id="m-1")
    with pytest.raises(BusError):
        bus.subscribe("nowhere", Recorder())
    with pytest.raises(BusError):
        bus.subscribe(EVENTS, Recorder(), prefetch=0)
    bus.subscribe(MESSAGES, Recorder())
    with pytest.raises(BusError, match="already has a handler"):
        bus.subscribe(MESSAGES, Recorder())
    assert await bus.ping() is False
    await bus.start()
    assert await bus.ping() is True
    with pytest.raises(BusError, match="message id"):
        await bus.publish(EVENTS, b"b", message_id="")
    with pytest.raises(BusError):
        bus.subscribe(EVENTS, Recorder())
    with pytest.raises(BusError):
        await bus.start()


async def test_park_puts_an_outside_message_on_the_parking_queue(bus: MemoryBus) -> None:
    await bus.start()
    await bus.park(EVENTS, b"raw", message_id="nhn-1", reason="unmatched AppRec")
    [parked] = bus.parked(EVENTS)
    assert (parked.body, parked.message_id, parked.reason) == (b"raw", "nhn-1", "unmatched AppRec")
    await settled(bus)  # a park from outside leaves nothing unsettled behind
    assert parked.headers["x-park-service"] == "transform"
    with pytest.raises(BusError, match="not part of the topology"):
        await bus.park("nowhere", b"", message_id="x", reason="r")
