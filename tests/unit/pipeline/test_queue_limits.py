"""The length limit of ``receipts``: declared on the queue, and kept by the in-memory broker
as RabbitMQ keeps it (a refused publish, nothing dropped); its depth for the backlog gauge."""

from __future__ import annotations

import pytest

from kpr_gateway.pipeline import EVENTS, RECEIPTS, BusError, MemoryBroker, MemoryBus, PublishError
from kpr_gateway.pipeline.queues import RECEIPTS_MAX_LENGTH, Topology


def test_receipts_alone_has_a_length_limit_with_reject_publish() -> None:
    topology = Topology()
    receipts = topology.work_queue(RECEIPTS)
    assert receipts.queue.arguments["x-max-length"] == RECEIPTS_MAX_LENGTH == 100_000
    assert receipts.queue.arguments["x-overflow"] == "reject-publish"
    assert topology.max_length(RECEIPTS) == RECEIPTS_MAX_LENGTH
    for logical in topology.queue_names:
        work = topology.work_queue(logical)
        # retry and parking queues hold what the queue accepted already: never refused
        for spec in (work.parked, *(step.queue for step in work.retries)):
            assert "x-max-length" not in spec.arguments
        if logical != RECEIPTS:
            assert "x-max-length" not in work.queue.arguments
            assert topology.max_length(logical) is None


def test_limits_can_be_set_and_must_be_positive() -> None:
    assert Topology([EVENTS], max_lengths={EVENTS: 3}).max_length(EVENTS) == 3
    assert Topology([EVENTS], max_lengths={}).max_length(EVENTS) is None
    with pytest.raises(BusError, match="at least 1"):
        Topology([EVENTS], max_lengths={EVENTS: 0})
    with pytest.raises(BusError, match="not part of the topology"):
        Topology([EVENTS]).max_length(RECEIPTS)


async def test_a_full_queue_refuses_the_publish_and_keeps_what_it_has() -> None:
    broker = MemoryBroker(queues=(RECEIPTS,), max_lengths={RECEIPTS: 2})
    bus = MemoryBus(service_name="receipts", broker=broker)
    await bus.start()
    try:
        for number in range(3):  # as RabbitMQ: the publish that passes the limit is taken
            await bus.publish(RECEIPTS, b"notice", message_id=f"m{number}")
        with pytest.raises(PublishError, match="full"):
            await bus.publish(RECEIPTS, b"one too many", message_id="m3")
        assert await bus.queue_depth(RECEIPTS) == 3
    finally:
        await bus.stop()


async def test_the_depth_counts_what_waits() -> None:
    bus = MemoryBus(service_name="receipts", broker=MemoryBroker(queues=(RECEIPTS,)))
    await bus.start()
    try:
        assert await bus.queue_depth(RECEIPTS) == 0
        await bus.publish(RECEIPTS, b"1", message_id="m1")
        assert await bus.queue_depth(RECEIPTS) == 1
        with pytest.raises(BusError):
            await bus.queue_depth(EVENTS)
    finally:
        await bus.stop()
