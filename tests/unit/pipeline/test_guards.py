"""Both buses refuse the same calls in the same words, and carry the same headers
(``pipeline.guards``); the RabbitBus here is never started, so no broker is needed."""

from __future__ import annotations

import pytest

from kpr_gateway.pipeline import EVENTS, Bus, BusError, MemoryBus, RabbitBus
from kpr_gateway.pipeline.guards import park_headers_from_outside, publish_headers

BUSES = ("memory", "rabbit")


def unstarted(kind: str) -> Bus:
    if kind == "memory":
        return MemoryBus(service_name="test")
    return RabbitBus("amqp://guest:guest@127.0.0.1:1/", service_name="test")


@pytest.mark.parametrize("kind", BUSES)
async def test_an_unstarted_bus_refuses_to_publish_and_park(kind: str) -> None:
    bus = unstarted(kind)
    with pytest.raises(BusError, match=r"^the bus is not running$"):
        await bus.publish(EVENTS, b"b", message_id="m-1")
    with pytest.raises(BusError, match=r"^the bus is not running$"):
        await bus.park(EVENTS, b"b", message_id="m-1", reason="unmatched")


@pytest.mark.parametrize("kind", BUSES)
async def test_subscribe_checks_are_the_same_on_both_buses(kind: str) -> None:
    bus = unstarted(kind)

    async def handler(_: object) -> None:
        return None

    with pytest.raises(BusError, match=r"^prefetch must be at least 1$"):
        bus.subscribe(EVENTS, handler, prefetch=0)
    bus.subscribe(EVENTS, handler)
    with pytest.raises(BusError, match=r"^queue 'events' already has a handler on this bus$"):
        bus.subscribe(EVENTS, handler)


def test_a_publish_needs_a_message_id_and_carries_no_bus_headers() -> None:
    with pytest.raises(BusError, match=r"^a message id is required$"):
        publish_headers("started", message_id="", headers=None)
    carried = publish_headers(
        "stopping", message_id="m-1", headers={"x-attempt": "3", "tenant": "bergen"}
    )
    assert carried == {"tenant": "bergen"}


def test_a_park_from_outside_says_why_who_and_where_from() -> None:
    parked = park_headers_from_outside(
        "started",
        headers={"x-death": "old", "a": "b"},
        reason="unmatched",
        service="receipts",
        queue=EVENTS,
    )
    assert parked == {
        "a": "b",
        "x-park-reason": "unmatched",
        "x-park-service": "receipts",
        "x-original-queue": EVENTS,
        "x-attempt": "1",
    }
    with pytest.raises(BusError, match=r"^the bus is not running$"):
        park_headers_from_outside("stopped", headers=None, reason="r", service="s", queue=EVENTS)
