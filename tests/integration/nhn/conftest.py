"""AmqpNhnTransport against the local RabbitMQ: unique queues per test, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kpr_gateway.nhn.amqp import AmqpNhnTransport
from tests.integration.nhn.broker import BROKER, EXCHANGE
from tests.integration.nhn.proxy import TcpProxy
from tests.support.rabbit import channel, delete_queues

__all__ = ["channel"]

TransportFactory = Callable[..., AmqpNhnTransport]
QueueNames = Callable[[str], str]


@pytest.fixture
async def queues() -> AsyncIterator[QueueNames]:
    """``queues("async")`` gives a fresh queue name; every name given is deleted afterwards."""
    made: list[str] = []
    run = uuid.uuid4().hex[:10]

    def name(role: str) -> str:
        made.append(f"kprgw-nhn-test-{run}-{role}")
        return made[-1]

    yield name
    await delete_queues(made)


@pytest.fixture
async def transports(queues: QueueNames) -> AsyncIterator[TransportFactory]:
    """Transports stopped after the test, before its queues are deleted."""
    made: list[AmqpNhnTransport] = []

    def make(url: str | None = None, **options: Any) -> AmqpNhnTransport:
        settings: dict[str, Any] = {
            "username": BROKER.username,
            "password": BROKER.password,
            "exchange": EXCHANGE,
            "allow_insecure": True,
            "declare_queues": True,
            "connect_timeout": 5.0,
            "send_timeout": 5.0,
            "reconnect_initial": 0.1,
            "reconnect_max": 1.0,
            "graceful_timeout": 5.0,
            "failed_release_delay": 0.0,
        }
        settings.update(options)
        transport = AmqpNhnTransport(url or BROKER.url, **settings)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.stop()


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    forwarder = TcpProxy(BROKER.host, BROKER.port)
    await forwarder.start()
    yield forwarder
    await forwarder.stop()
