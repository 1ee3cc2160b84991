"""The real RabbitMQ and Redis for the envelope and dispatch integration tests: a unique
queue prefix and key prefix per test, queues and keys deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, Ledger
from kpr_gateway.pipeline import RabbitBus
from tests.support.rabbit import RABBIT_URL, delete_queues, queues_of

REDIS_URL = os.environ.get("KPRGW_REDIS_URL", "redis://127.0.0.1:6379/0")
FAST_RETRIES = (0.2, 0.4)


@dataclass
class Infra:
    prefix: str
    ledger: Ledger
    buses: list[RabbitBus] = field(default_factory=list)
    tracer_provider: TracerProvider = field(default_factory=TracerProvider)

    def bus(self, service_name: str, *queues: str) -> RabbitBus:
        """A bus on the test's own queues, with short retry delays, recording spans."""
        bus = RabbitBus(
            RABBIT_URL,
            service_name=service_name,
            prefix=self.prefix,
            queues=queues,
            retry_delays=FAST_RETRIES,
            max_attempts=3,
            graceful_timeout=5.0,
            tracer_provider=self.tracer_provider,
        )
        self.buses.append(bus)
        return bus

    async def take_parked(self, queue: str, timeout: float = 10.0) -> AbstractIncomingMessage:
        """Take (and acknowledge) one message from ``<queue>.parked``."""
        name = self.buses[0].topology.work_queue(queue).parked.name
        connection = await aio_pika.connect(RABBIT_URL)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(name, passive=True)
            async with asyncio.timeout(timeout):
                while (message := await declared.get(fail=False)) is None:
                    await asyncio.sleep(0.05)
            await message.ack()
        return message


@asynccontextmanager
async def rabbit_and_redis() -> AsyncIterator[Infra]:
    prefix = f"kprgw-it-{uuid.uuid4().hex[:10]}"
    redis = Redis.from_url(REDIS_URL)
    infra = Infra(prefix, Ledger(redis, keys=KeySpace(prefix)))
    try:
        yield infra
    finally:
        for bus in infra.buses:
            await bus.stop()
        await delete_queues(queues_of(infra.buses))
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        infra.tracer_provider.shutdown()


async def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition()`` until it is true."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll ``await check()`` until it is true."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)
