"""RabbitBus against the local RabbitMQ: unique queue names per test, deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from kpr_gateway.pipeline import RabbitBus

RABBIT_URL = os.environ.get("KPRGW_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")
WORK = "work"
FAST_RETRIES = (0.2, 0.4)

BusFactory = Callable[..., RabbitBus]


@pytest.fixture
def rabbit_url() -> str:
    return RABBIT_URL


@pytest.fixture
def prefix() -> str:
    return f"kprgw-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def channel() -> AsyncIterator[AbstractChannel]:
    """A plain aio-pika channel for looking at queues from outside the bus."""
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


@pytest.fixture
async def make_bus(prefix: str) -> AsyncIterator[BusFactory]:
    buses: list[RabbitBus] = []

    def make(**kwargs: Any) -> RabbitBus:
        options: dict[str, Any] = {
            "service_name": "test-service",
            "prefix": prefix,
            "queues": (WORK,),
            "retry_delays": FAST_RETRIES,
            "max_attempts": 3,
            "graceful_timeout": 5.0,
        }
        options.update(kwargs)
        bus = RabbitBus(RABBIT_URL, **options)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()
    names = {spec.name for bus in buses for spec in bus.topology.specs()}
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel()
        for name in sorted(names):
            await channel.queue_delete(name)
    finally:
        await connection.close()


async def depth(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    count = declared.declaration_result.message_count
    assert count is not None
    return count


async def get_one(
    channel: AbstractChannel, queue: str, timeout: float = 10.0
) -> AbstractIncomingMessage:
    """Take (and acknowledge) one message from ``queue``, waiting up to ``timeout``."""
    declared = await channel.declare_queue(queue, passive=True)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await declared.get(fail=False)
        if message is not None:
            await message.ack()
            return message
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"nothing arrived on {queue} within {timeout}s")
        await asyncio.sleep(0.05)
