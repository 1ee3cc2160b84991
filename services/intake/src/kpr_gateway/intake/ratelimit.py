"""Requests per second per EPJ client, counted in Redis so every intake replica shares it."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kpr_gateway.intake.errors import RateLimitedError, UnavailableError


class RateLimiter:
    """A fixed one-second window per client: simple, shared, one round trip."""

    def __init__(
        self,
        redis: Redis,
        *,
        per_second: int,
        prefix: str = "kprgw",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._per_second = per_second
        self._prefix = prefix
        self._clock = clock

    async def check(self, client_id: str) -> None:
        window = int(self._clock())
        key = f"{self._prefix}:ratelimit:{client_id}:{window}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise UnavailableError("rate limiter unavailable") from exc
        if int(count) > self._per_second:
            raise RateLimitedError(f"more than {self._per_second} requests per second")
