"""Receiving: accept, reject, release, failing handlers, credit, and a graceful stop."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aio_pika.abc import AbstractChannel

from kpr_gateway.nhn import NhnDelivery, NhnError
from tests.integration.nhn.conftest import QueueNames, TransportFactory
from tests.integration.nhn.support import message, wait_until
from tests.support.rabbit import depth, get_one


async def test_each_settlement_does_what_the_broker_promises(
    transports: TransportFactory, queues: QueueNames, channel: AbstractChannel
) -> None:
    inbox, dead = queues("async"), queues("dead")
    await channel.declare_queue(dead, durable=True)
    await channel.declare_queue(
        inbox,
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
    )
    seen: Counter[bytes] = Counter()
    double_settle: list[str] = []

    async def handle(delivery: NhnDelivery) -> None:
        body = delivery.message.body
        seen[body] += 1
        first = seen[body] == 1
        if body == b"reject":
            await delivery.reject("not an AppRec")
        elif body == b"release" and first:
            await delivery.release()
        elif body == b"raise" and first:
            raise RuntimeError("ledger unavailable")
        elif body == b"forget" and first:
            return
        else:
            await delivery.accept()
            try:
                await delivery.accept()
            except NhnError as exc:
                double_settle.append(str(exc))

    transport = transports()
    transport.subscribe(inbox, handle, credit=3)
    await transport.start()
    for body in (b"accept", b"reject", b"release", b"raise", b"forget"):
        await transport.send(message(inbox, body))
    expected = {b"accept": 1, b"reject": 1, b"release": 2, b"raise": 2, b"forget": 2}
    await wait_until(lambda: seen == expected)
    await transport.stop()

    assert seen == expected  # nothing came a third time
    assert len(double_settle) == 4
    assert "settled twice" in double_settle[0]
    assert await depth(channel, inbox) == 0
    dead_lettered = await get_one(channel, dead)
    assert dead_lettered.body == b"reject"
    deaths = dead_lettered.headers["x-death"]
    assert isinstance(deaths, list)
    assert isinstance(deaths[0], dict)
    assert deaths[0]["reason"] == "rejected"
    assert await depth(channel, dead) == 0


async def test_credit_bounds_the_messages_in_flight(
    transports: TransportFactory, queues: QueueNames, channel: AbstractChannel
) -> None:
    inbox = queues("async")
    gate = asyncio.Event()
    in_flight = 0
    most = 0
    done = 0

    async def handle(delivery: NhnDelivery) -> None:
        nonlocal in_flight, most, done
        in_flight += 1
        most = max(most, in_flight)
        await gate.wait()
        in_flight -= 1
        await delivery.accept()
        done += 1

    transport = transports()
    transport.subscribe(inbox, handle, credit=2)
    await transport.start()
    for index in range(6):
        await transport.send(message(inbox, b"%d" % index))
    await wait_until(lambda: in_flight == 2)
    await asyncio.sleep(0.3)  # time for a third delivery, were the credit not respected

    assert in_flight == 2
    assert await depth(channel, inbox) == 4  # ready; the two in flight are unacknowledged
    gate.set()
    await wait_until(lambda: done == 6)
    assert most == 2


async def test_stop_lets_handlers_in_flight_finish(
    transports: TransportFactory, queues: QueueNames, channel: AbstractChannel
) -> None:
    inbox = queues("async")
    started = asyncio.Event()
    finished: list[str] = []

    async def handle(delivery: NhnDelivery) -> None:
        started.set()
        await asyncio.sleep(0.5)
        await delivery.accept()
        finished.append(delivery.message.message_id)

    transport = transports()
    transport.subscribe(inbox, handle, credit=1)
    await transport.start()
    sent = message(inbox)
    await transport.send(sent)
    await started.wait()
    await transport.stop()

    assert finished == [sent.message_id]
    assert await depth(channel, inbox) == 0
    assert not await transport.ping()
    with pytest.raises(NhnError):
        await transport.send(message(inbox))
