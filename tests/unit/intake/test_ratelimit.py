"""The per-client token bucket (fakeredis runs the same Lua script Redis does)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from kpr_gateway.intake.errors import RateLimitedError, UnavailableError
from kpr_gateway.intake.ratelimit import RateLimiter


class WallClock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


async def allowed(limiter: RateLimiter, client: str, count: int, rate: int | None = None) -> int:
    passed = 0
    for _ in range(count):
        try:
            await limiter.check(client, rate)
        except RateLimitedError:
            continue
        passed += 1
    return passed


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def limiter(clock: WallClock) -> RateLimiter:
    return RateLimiter(FakeAsyncRedis(), per_second=10, clock=clock)


async def test_a_burst_up_to_the_limit_then_refill_at_the_rate(
    limiter: RateLimiter, clock: WallClock
) -> None:
    assert await allowed(limiter, "gerica", 15) == 10
    clock.now += 0.5
    assert await allowed(limiter, "gerica", 10) == 5
    clock.now += 10  # a long pause fills the bucket, never beyond one second's worth
    assert await allowed(limiter, "gerica", 20) == 10


async def test_no_double_burst_across_a_second_boundary(
    limiter: RateLimiter, clock: WallClock
) -> None:
    """A fixed window allows 2x at its edge; the bucket does not."""
    clock.now = 1_750_000_000.95
    first = await allowed(limiter, "gerica", 10)
    clock.now = 1_750_000_001.05
    second = await allowed(limiter, "gerica", 10)
    assert first + second == 11  # ten, plus 0.1 s of refill at 10/s


async def test_clients_have_their_own_buckets_and_limits(limiter: RateLimiter) -> None:
    assert await allowed(limiter, "gerica", 12) == 10
    assert await allowed(limiter, "visma", 12) == 10
    assert await allowed(limiter, "bulk-loader", 120, rate=100) == 100
    assert await allowed(limiter, "slow", 5, rate=1) == 1


async def test_a_clock_running_behind_grants_nothing_extra(
    limiter: RateLimiter, clock: WallClock
) -> None:
    assert await allowed(limiter, "gerica", 10) == 10
    clock.now -= 5  # another replica whose clock is behind
    assert await allowed(limiter, "gerica", 3) == 0


async def test_the_bucket_expires_once_it_would_be_full(clock: WallClock) -> None:
    redis = FakeAsyncRedis()
    limiter = RateLimiter(redis, per_second=10, prefix="t", clock=clock)
    await limiter.check("gerica")
    ttl_ms = await redis.pttl("t:ratelimit:gerica")
    assert 1000 < ttl_ms <= 2000


async def test_redis_down_is_unavailable() -> None:
    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    limiter = RateLimiter(redis, per_second=10)
    with pytest.raises(UnavailableError):
        await limiter.check("gerica")
    await redis.aclose()


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(FakeAsyncRedis(), per_second=0)


class CountingRedis(FakeAsyncRedis):
    """fakeredis, counting the script calls (one round trip each)."""

    calls = 0

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await super().evalsha(*args, **kwargs)


async def test_concurrent_requests_of_a_client_take_their_tokens_together(
    clock: WallClock,
) -> None:
    redis = CountingRedis()
    limiter = RateLimiter(redis, per_second=5, clock=clock)
    results = await asyncio.gather(
        *(limiter.check("gerica") for _ in range(8)), return_exceptions=True
    )
    # the first in arrival order get the five tokens, the rest are refused
    assert results[:5] == [None] * 5
    assert all(isinstance(r, RateLimitedError) for r in results[5:])
    assert redis.calls == 2  # the first request alone, then the seven that waited for it
    clock.now += 1
    assert await allowed(limiter, "gerica", 6) == 5


class BrokenRedis(CountingRedis):
    """fakeredis whose script calls fail with ``error`` while it is set (after a pause, so that
    requests gather behind the first call)."""

    error: BaseException | None = None

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        return await super().evalsha(*args, **kwargs)


@pytest.mark.parametrize(
    "error", [RedisConnectionError("down"), OSError("reset")], ids=["redis", "other"]
)
async def test_a_failed_grouped_call_answers_every_waiting_request_and_the_next_works(
    clock: WallClock, error: BaseException
) -> None:
    redis = BrokenRedis()
    redis.error = error
    limiter = RateLimiter(redis, per_second=50, clock=clock)
    results = await asyncio.wait_for(
        asyncio.gather(*(limiter.check("gerica") for _ in range(6)), return_exceptions=True),
        timeout=5,
    )
    assert all(isinstance(r, UnavailableError) for r in results)
    redis.error = None
    assert await allowed(limiter, "gerica", 3) == 3


async def test_a_cancelled_call_leaves_nobody_waiting(clock: WallClock) -> None:
    limiter = RateLimiter(BrokenRedis(), per_second=50, clock=clock)
    waiting = [asyncio.create_task(limiter.check("gerica")) for _ in range(4)]
    await asyncio.sleep(0)
    for call in list(limiter._calls):  # as at shutdown
        call.cancel()
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=5)
    assert all(isinstance(r, UnavailableError) for r in results)
    assert await allowed(limiter, "gerica", 2) == 2
