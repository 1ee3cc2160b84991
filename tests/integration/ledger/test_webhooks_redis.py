"""The webhook scenarios of the ledger on the local Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, Ledger, redis_from_url
from tests.integration.ledger import webhook_scenarios
from tests.integration.ledger.scenarios import Clock


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_from_url("redis://127.0.0.1:6379/0")
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"test-{uuid.uuid4().hex[:8]}"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.mark.parametrize("scenario", webhook_scenarios.SCENARIOS, ids=lambda s: s.__name__)
async def test_webhooks_on_real_redis(
    redis: Redis, prefix: str, scenario: Callable[[Ledger], Awaitable[None]]
) -> None:
    await scenario(Ledger(redis, keys=KeySpace(prefix)))


async def test_attempt_times_on_real_redis(redis: Redis, prefix: str) -> None:
    clock = Clock()
    await webhook_scenarios.attempt_times_come_from_the_ledger_s_clock(
        Ledger(redis, keys=KeySpace(prefix), clock=clock), clock
    )
