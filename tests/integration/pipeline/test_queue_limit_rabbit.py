"""The length limit on the real broker (quorum queue, reject-publish): a full queue refuses
the publish with a nack, keeps what it holds, and takes publishes again once read; and the
depth a backlog gauge reads."""

from __future__ import annotations

import pytest
from aio_pika.abc import AbstractChannel

from kpr_gateway.pipeline import BusError, PublishError
from kpr_gateway.pipeline.queues import RECEIPTS, RECEIPTS_MAX_LENGTH
from tests.support.rabbit import depth, get_one

from .conftest import BusFactory


async def test_a_full_queue_refuses_publishes_and_loses_nothing(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus(queues=(RECEIPTS,), max_lengths={RECEIPTS: 3})
    await bus.start()
    physical = bus.topology.physical(RECEIPTS)
    # A quorum queue counts after it enqueues: the publish that passes the limit is still
    # accepted, the next is refused.
    accepted = [f"notice {number}".encode() for number in range(4)]
    for number, body in enumerate(accepted):
        await bus.publish(RECEIPTS, body, message_id=f"m{number}")
    assert await bus.queue_depth(RECEIPTS) == await depth(channel, physical) == 4
    with pytest.raises(PublishError, match="nack"):
        await bus.publish(RECEIPTS, b"still full", message_id="again")
    taken = [(await get_one(channel, physical)).body for _ in range(2)]
    assert taken == accepted[:2]  # the oldest are kept: nothing dropped at the head
    await bus.publish(RECEIPTS, b"room again", message_id="m-room")
    assert await bus.queue_depth(RECEIPTS) == 3


async def test_the_default_limit_is_what_the_broker_declares(
    make_bus: BusFactory, channel: AbstractChannel
) -> None:
    bus = make_bus(queues=(RECEIPTS,))
    await bus.start()
    physical = bus.topology.physical(RECEIPTS)
    # A passive declaration cannot read arguments back; declaring again with other ones
    # must be refused by the broker, with the same ones accepted.
    await channel.declare_queue(
        physical, durable=True, arguments=dict(bus.topology.work_queue(RECEIPTS).queue.arguments)
    )
    other = make_bus(queues=(RECEIPTS,), max_lengths={RECEIPTS: RECEIPTS_MAX_LENGTH + 1})
    with pytest.raises(BusError, match="exists with other arguments"):
        await other.start()


async def test_the_depth_needs_a_started_bus(make_bus: BusFactory) -> None:
    bus = make_bus(queues=(RECEIPTS,))
    with pytest.raises(BusError, match="not started"):
        await bus.queue_depth(RECEIPTS)
    await bus.start()
    assert await bus.queue_depth(RECEIPTS) == 0
    await bus.stop()
    with pytest.raises(BusError, match="not started"):
        await bus.queue_depth(RECEIPTS)
