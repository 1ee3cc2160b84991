"""A service does not work on a ledger that can be lost silently, or that was lost.

At start (``check_at_start``): in production mode Redis must keep an append-only file synced
at least every second, unless ``allow_redis_without_aof`` is set (then the metrics
``ledger_redis_without_aof_allowed`` and the readiness detail ``redis_without_aof_allowed``
say so); and the ledger must carry its generation marker (``kprgw ledger init`` writes it
for a new install). In development mode a Redis without AOF is only logged and the marker
is written when missing.

While it runs (``watch``): the marker is read every ``ledger_check_seconds``. Missing or
changed means Redis lost the ledger or was restored from another one: the service stops at
once (``LedgerLostError``, exit code 2), without draining, since every further step would
take the empty ledger for the truth (events re-sent as new, chains numbered from 1 again).
After a restart it refuses to start until an operator has dealt with the loss
(docs/operations.md). Durability is checked again for readiness: a Redis whose AOF was
turned off makes the service not ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, LedgerError
from kpr_gateway.ledger.safeguards import (
    Durability,
    Generation,
    read_durability,
    read_generation,
    start_generation,
)
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.runtime.component import StartupError

_log = logging.getLogger(__name__)

Mode = Literal["production", "development"]
Check = Callable[[], Awaitable[bool]]

_AFTER_A_LOSS = "see 'After a ledger loss' in docs/operations.md"


class LedgerNotDurableError(StartupError):
    """Production mode on a Redis without an append-only file synced every second."""


class LedgerLostError(StartupError):
    """The ledger's generation marker is missing or not the one the service started with."""


class LedgerGuard:
    def __init__(
        self,
        redis: Redis,
        keys: KeySpace,
        metrics: ServiceMetrics,
        *,
        mode: Mode,
        allow_without_aof: bool,
        check_seconds: float,
        durability: Callable[[Redis], Awaitable[Durability]] = read_durability,
    ) -> None:
        """``durability``: how Redis' durability is read (tests give a Redis of their own
        kind without touching the server's configuration)."""
        self._read_durability = durability
        self._redis = redis
        self._keys = keys
        self._mode = mode
        self._allow_without_aof = allow_without_aof
        self._check_seconds = check_seconds
        self._generation: Generation | None = None
        self._aof = metrics.gauge(
            "ledger_redis_aof", "1 when Redis writes an AOF synced at least every second."
        )
        self._allowed = metrics.gauge(
            "ledger_redis_without_aof_allowed",
            "1 when this service was explicitly allowed to run on a Redis without AOF.",
        )

    @property
    def generation(self) -> Generation | None:
        return self._generation

    async def check_at_start(self) -> None:
        try:
            durability = await self._read_durability(self._redis)
            if not durability.sufficient:
                self._refuse_or_allow(durability.describe())
            self._aof.set(1 if durability.sufficient else 0)
            self._generation = await self._generation_at_start()
        except LedgerError as exc:
            raise StartupError(f"the ledger cannot be checked: {exc}") from exc
        _log.info("ledger %s", self._generation.describe())

    def _refuse_or_allow(self, found: str) -> None:
        if self._mode == "production" and not self._allow_without_aof:
            raise LedgerNotDurableError(
                f"Redis does not keep the ledger safely ({found}): production mode needs "
                "appendonly yes and appendfsync everysec or always (or set "
                "ALLOW_REDIS_WITHOUT_AOF to run without, knowing a Redis restart loses it)"
            )
        if self._allow_without_aof:
            self._allowed.set(1)
        _log.warning(
            "Redis does not keep the ledger safely (%s); running anyway (%s)",
            found,
            "allowed explicitly" if self._allow_without_aof else "development mode",
        )

    async def _generation_at_start(self) -> Generation:
        if self._mode == "development":
            generation, written = await start_generation(self._redis, self._keys)
            if written:
                _log.info("a new ledger: %s written (development mode)", generation.describe())
            return generation
        found = await read_generation(self._redis, self._keys)
        if found is None:
            raise LedgerLostError(
                "the ledger has no generation marker: it is empty or not the gateway's. A new "
                f"install runs 'kprgw ledger init' once; after a loss, {_AFTER_A_LOSS}"
            )
        return found

    def readiness_checks(self) -> Mapping[str, Check]:
        """Durability for readiness: AOF checked again (production), or the override shown."""
        if self._allow_without_aof:
            return {"redis_without_aof_allowed": _always_ready}
        if self._mode == "production":
            return {"redis_aof": self._durable}
        return {}

    async def _durable(self) -> bool:
        durable = (await self._read_durability(self._redis)).sufficient
        self._aof.set(1 if durable else 0)
        return durable

    async def watch(self) -> None:
        """Return never; raise ``LedgerLostError`` once the marker is missing or changed. A
        Redis that does not answer is the readiness check's business, not a loss."""
        started = self._generation
        if started is None:
            raise RuntimeError("watch() before check_at_start()")
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                current = await read_generation(self._redis, self._keys)
            except LedgerError:
                continue
            if current != started:
                found = "gone" if current is None else f"now {current.describe()}"
                _log.critical(
                    "the ledger was lost or replaced: %s was %s; stopping", started.id, found
                )
                raise LedgerLostError(
                    f"the ledger was lost or replaced while running ({started.describe()} "
                    f"is {found}); stopped without draining. {_AFTER_A_LOSS}"
                )


async def _always_ready() -> bool:
    return True
