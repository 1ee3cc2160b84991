"""Requests per second per EPJ client, kept in Redis so every intake replica shares it.

A token bucket per client: it holds up to one second's worth of requests and refills at
the client's rate, so a client can burst to its limit and then keeps to it on average,
without the double burst a fixed window allows at its edge. One Lua script call (one
round trip, one key) per request; the key expires once the bucket would be full again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kpr_gateway.intake.errors import RateLimitedError, UnavailableError

# KEYS[1]: the bucket. ARGV: rate (tokens per second), capacity, now (milliseconds).
# Returns 1 when the request may go ahead. Times come from the caller (replicas run NTP);
# a replica whose clock is behind only refills nothing, it never grants extra tokens.
BUCKET_SCRIPT: Final = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
  at = now
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return allowed
"""


class RateLimiter:
    """A token bucket per client: ``per_second`` by default, or the client's own limit."""

    def __init__(
        self,
        redis: Redis,
        *,
        per_second: int,
        prefix: str = "kprgw",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self._script = redis.register_script(BUCKET_SCRIPT)
        self._per_second = per_second
        self._prefix = prefix
        self._clock = clock

    async def check(self, client_id: str, per_second: int | None = None) -> None:
        rate = per_second or self._per_second
        key = f"{self._prefix}:ratelimit:{client_id}"
        now_ms = int(self._clock() * 1000)
        try:
            allowed = await self._script(keys=[key], args=[rate, rate, now_ms])
        except RedisError as exc:
            raise UnavailableError("rate limiter unavailable") from exc
        if int(allowed) != 1:
            raise RateLimitedError(f"more than {rate} requests per second")
