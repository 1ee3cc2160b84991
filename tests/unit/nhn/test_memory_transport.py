from __future__ import annotations

import asyncio

from kpr_gateway.nhn import (
    InMemoryNhnBroker,
    InMemoryNhnTransport,
    NhnDelivery,
    NhnMessage,
    new_message,
)


def message(queue: str = "q", body: bytes = b"x") -> NhnMessage:
    return new_message(
        to_queue=queue,
        subject="KPR_IPL",
        reply_to="r",
        from_her_id="1",
        to_her_id="2",
        body=body,
        ttl_ms=None,
    )


async def wait_until(condition: object, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_accept_reject_and_release() -> None:
    broker = InMemoryNhnBroker()
    sender, receiver = InMemoryNhnTransport(broker), InMemoryNhnTransport(broker, release_delay=0)
    seen: list[bytes] = []

    async def handle(delivery: NhnDelivery) -> None:
        seen.append(delivery.message.body)
        body = delivery.message.body
        if body == b"reject":
            await delivery.reject("not for us")
        elif body == b"release" and seen.count(b"release") == 1:
            await delivery.release()
        else:
            await delivery.accept()

    receiver.subscribe("q", handle, credit=1)
    await receiver.start()
    for body in (b"ok", b"reject", b"release"):
        await sender.send(message(body=body))
    await wait_until(lambda: len(seen) == 4)
    await receiver.stop()

    assert seen == [b"ok", b"reject", b"release", b"release"]
    assert [(d.queue, d.reason, d.message.body) for d in broker.dead_letters] == [
        ("q", "not for us", b"reject")
    ]
    assert broker.depth("q") == 0


async def test_failing_or_forgetful_handler_releases_the_message() -> None:
    broker = InMemoryNhnBroker()
    transport = InMemoryNhnTransport(broker, release_delay=0)
    attempts = 0

    async def handle(delivery: NhnDelivery) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("ledger down")
        if attempts == 2:
            return  # forgot to settle
        await delivery.accept()

    transport.subscribe("q", handle, credit=1)
    await transport.start()
    await transport.send(message())
    await wait_until(lambda: attempts == 3)
    await transport.stop()
    assert broker.depth("q") == 0


async def test_stop_lets_the_handler_in_flight_finish() -> None:
    broker = InMemoryNhnBroker()
    transport = InMemoryNhnTransport(broker)
    started, finished = asyncio.Event(), asyncio.Event()

    async def handle(delivery: NhnDelivery) -> None:
        started.set()
        await asyncio.sleep(0.1)
        await delivery.accept()
        finished.set()

    transport.subscribe("q", handle, credit=1)
    await transport.start()
    await transport.send(message())
    await started.wait()
    await transport.stop()
    assert finished.is_set()
