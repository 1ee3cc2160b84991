"""Requests per second per EPJ client, kept in Redis so every intake replica shares it.

A token bucket per client: it holds up to one second's worth of requests and refills at
the client's rate, so a client can burst to its limit and then keeps to it on average,
without the double burst a fixed window allows at its edge. One Lua script call (one
round trip, one key) takes the tokens; the key expires once the bucket would be full again.

A client's requests that arrive while its previous call is under way wait for it and then
take their tokens together in one call (granted in arrival order): a busy client costs one
round trip per group of requests, not per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kpr_gateway.intake.errors import RateLimitedError, UnavailableError

_log = logging.getLogger(__name__)

# KEYS[1]: the bucket. ARGV: rate (tokens per second), capacity, now (milliseconds), wanted
# (requests). Returns how many of them may go ahead (the first ones). Times come from the
# caller (replicas run NTP); a replica whose clock is behind only refills nothing, it never
# grants extra tokens.
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
local granted = math.max(0, math.min(tonumber(ARGV[4]), math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return granted
"""


@dataclass(slots=True)
class _Queue:
    """A client's requests waiting for their tokens, and whether a call is under way."""

    rate: int
    waiting: list[asyncio.Future[bool]] = field(default_factory=list)
    busy: bool = False


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
        self._queues: dict[str, _Queue] = {}
        self._calls: set[asyncio.Task[None]] = set()

    async def check(self, client_id: str, per_second: int | None = None) -> None:
        rate = per_second or self._per_second
        key = f"{self._prefix}:ratelimit:{client_id}"
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(rate)
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.waiting.append(turn)
        if not queue.busy:
            queue.busy = True
            # a context of its own: the call serves many requests, it belongs to none of them
            task = asyncio.create_task(self._take(key, queue), context=contextvars.Context())
            self._calls.add(task)
            task.add_done_callback(functools.partial(self._taken, key, queue))
        if not await asyncio.shield(turn):
            raise RateLimitedError(f"more than {rate} requests per second")

    async def _take(self, key: str, queue: _Queue) -> None:
        """Take tokens for whoever waits, one call per group, until nobody waits."""
        while queue.waiting:
            turns, queue.waiting = queue.waiting, []
            args = [queue.rate, queue.rate, int(self._clock() * 1000), len(turns)]
            try:
                granted = int(await self._script(keys=[key], args=args))
            except RedisError:
                _refuse(turns)
                continue
            except BaseException:
                _refuse(turns)
                raise
            for position, turn in enumerate(turns):
                if not turn.done():
                    turn.set_result(position < granted)
        # nobody waits: done, with no await between that check and this (no one slips in)
        del self._queues[key]

    def _taken(self, key: str, queue: _Queue, task: asyncio.Task[None]) -> None:
        """After ``_take``: if it did not finish its work (cancelled, failed), nobody is left
        waiting on it and the client's next request starts a new call."""
        self._calls.discard(task)
        if self._queues.get(key) is queue:
            del self._queues[key]
            _refuse(queue.waiting)
        if not task.cancelled() and (problem := task.exception()) is not None:
            _log.error("taking rate-limit tokens failed: %s", type(problem).__name__)


def _refuse(turns: list[asyncio.Future[bool]]) -> None:
    for turn in turns:
        if not turn.done():
            turn.set_exception(UnavailableError("rate limiter unavailable"))
