"""The local RabbitMQ seen from outside what is under test (AMQP 0-9-1 through aio-pika):
its URL, a channel to look at queues, and deleting the queues a test made."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from kpr_gateway.pipeline import RabbitBus

RABBIT_URL = os.environ.get("KPRGW_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
async def channel() -> AsyncIterator[AbstractChannel]:
    """A plain aio-pika channel for looking at queues from outside the code under test."""
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


def queues_of(buses: Iterable[RabbitBus]) -> list[str]:
    """Every queue the buses' topologies declare (work, retry and parking queues)."""
    return sorted({spec.name for bus in buses for spec in bus.topology.specs()})


async def delete_queues(names: Iterable[str]) -> None:
    """Delete the queues a test made."""
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel()
        for name in names:
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
