"""What fails, fails fast and says why: missing queue or exchange, login, silent peer, no broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from kpr_gateway.nhn import NhnError, NhnSendError
from tests.integration.nhn.broker import BROKER
from tests.integration.nhn.conftest import QueueNames, TransportFactory
from tests.integration.nhn.proxy import TcpProxy
from tests.integration.nhn.support import message


async def test_send_to_a_queue_that_does_not_exist_fails(
    transports: TransportFactory, queues: QueueNames
) -> None:
    existing, missing = queues("async"), queues("missing")
    await transports(declare_queues=True).start()  # makes nothing yet: no subscriptions
    maker = transports(declare_queues=True)
    await maker.start()
    await maker.send(message(existing))  # declares and binds ``existing`` only
    transport = transports(declare_queues=False, verify_queues=True)
    await transport.start()

    started = time.monotonic()
    with pytest.raises(NhnSendError, match="does not exist") as raised:
        await transport.send(message(missing))
    assert time.monotonic() - started < 2.0
    assert missing in str(raised.value)
    await transport.send(message(existing))  # the look succeeds where the queue is there
    assert await transport.ping()


async def test_send_to_an_exchange_that_does_not_exist_fails(
    transports: TransportFactory, queues: QueueNames
) -> None:
    transport = transports(exchange="kprgw-no-such-exchange", declare_queues=False)
    await transport.start()
    with pytest.raises(NhnSendError, match="not-found"):
        await transport.send(message(queues("async")))
    assert await transport.ping()  # the connection survives a refused link


async def test_wrong_password_fails_start_without_showing_it(
    transports: TransportFactory,
) -> None:
    transport = transports(password="not-the-password-x7", connect_timeout=8.0)
    started = time.monotonic()
    with pytest.raises(NhnError) as raised:
        await transport.start()
    assert time.monotonic() - started < 5.0  # a refused login is not retried until the timeout
    text = str(raised.value)
    assert "not-the-password-x7" not in text
    assert f"{BROKER.host}:{BROKER.port}" in text
    assert "SASL login" in text
    assert not await transport.ping()


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts TCP connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    for writer in held:
        writer.transport.abort()
    await server.wait_closed()


async def test_a_silent_peer_fails_start_after_the_connect_timeout(
    transports: TransportFactory, silent_server: int
) -> None:
    transport = transports(f"amqp://127.0.0.1:{silent_server}", connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(NhnError, match="within 1s"):
        await transport.start()
    assert time.monotonic() - started < 3.0


async def test_a_send_waits_for_the_reconnect_and_times_out_without_one(
    transports: TransportFactory, queues: QueueNames
) -> None:
    inbox = queues("async")
    proxy = TcpProxy(BROKER.host, BROKER.port)
    await proxy.start()
    transport = transports(f"amqp://127.0.0.1:{proxy.port}", send_timeout=1.0)
    await transport.start()
    await transport.send(message(inbox))
    await proxy.stop()  # the broker is gone for good
    async with asyncio.timeout(5):
        while await transport.ping():
            await asyncio.sleep(0.02)

    with pytest.raises(NhnSendError, match="no settlement"):
        await transport.send(message(inbox))
    assert not await transport.ping()
