"""The local RabbitMQ (AMQP 1.0 plugin and 0-9-1 on the same port) as these tests see it."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

RABBIT_URL = os.environ.get("KPRGW_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")
EXCHANGE = "amq.direct"  # routes on the queue's name, as NHN's exchange does


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str
    password: str

    @property
    def url(self) -> str:
        """AMQP 1.0 URL without credentials."""
        return f"amqp://{self.host}:{self.port}"


def _broker() -> Broker:
    parts = urlsplit(RABBIT_URL)
    return Broker(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5672,
        username=parts.username or "guest",
        password=parts.password or "guest",
    )


BROKER = _broker()


async def delete_queues(names: list[str]) -> None:
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
    """Take (and acknowledge) one message from ``queue`` through AMQP 0-9-1."""
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
