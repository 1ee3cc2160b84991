from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import (
    KeySpace,
    Ledger,
    LedgerUnavailableError,
    NewEvent,
    redis_from_url,
)
from tests.integration.ledger import chain_scenarios, scenarios


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    # As the services make theirs: commands written by hiredis (ledger.connection).
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


@pytest.mark.parametrize(
    "scenario", scenarios.SCENARIOS + chain_scenarios.SCENARIOS, ids=lambda s: s.__name__
)
async def test_ledger_on_real_redis(
    redis: Redis, prefix: str, scenario: Callable[[Ledger], Awaitable[None]]
) -> None:
    await scenario(Ledger(redis, keys=KeySpace(prefix)))


async def test_overdue_on_real_redis(redis: Redis, prefix: str) -> None:
    clock = scenarios.Clock()
    await scenarios.overdue_messages_are_marked_and_can_still_close(
        Ledger(redis, keys=KeySpace(prefix), clock=clock), clock
    )


async def test_keys_carry_the_tenant_hash_tag_and_expire(redis: Redis, prefix: str) -> None:
    ledger = Ledger(redis, keys=KeySpace(prefix))
    await ledger.register_events("bergen", [NewEvent("e1", "h")], trace_id=None)
    keys = sorted([key.decode() async for key in redis.scan_iter(match=f"{prefix}:*")])
    assert keys == [f"{prefix}:{{bergen}}:ev:e1", f"{prefix}:{{bergen}}:ev:e1:hist"]
    assert all([await redis.ttl(key) > 0 for key in keys])


async def test_unreachable_redis_is_a_typed_error() -> None:
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    ledger = Ledger(client)
    assert not await ledger.ping()
    with pytest.raises(LedgerUnavailableError, match="register events"):
        await ledger.register_events("bergen", [NewEvent("e1", "h")], trace_id=None)
    await client.aclose()
