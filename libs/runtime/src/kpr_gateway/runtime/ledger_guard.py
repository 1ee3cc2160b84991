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

A ledger that comes back from an older copy is as dangerous as an empty one: what happened
after the copy (messages sent, events accepted, chain links numbered) would be done again or
numbered again. So:

- No service starts on a *held* ledger (``LedgerHeldError``): ``kprgw ledger restore`` leaves
  one held, and so does a guard that notices the ledger went back; only ``kprgw ledger
  release`` lifts it. A hold put while a service runs changes the marker: it stops.
- Every check advances the ledger clock and remembers it. A clock at or below the last value
  this service saw means Redis came back from older files (or lost its last writes): the
  guard holds the ledger, so that every other service stops too, and stops.
- With a ``LedgerWitness`` (``ledger_witness.RabbitWitness``: the newest clock kept on the
  bus), the start compares the ledger with what the services saw before they were stopped:
  older files restored while nothing ran are held and refused the same way. A witness that
  cannot be reached is logged and the service goes on (the marker and clock still hold).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, NoReturn

from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, LedgerError
from kpr_gateway.ledger.safeguards import (
    Durability,
    Generation,
    HoldKind,
    hold_ledger,
    hold_now,
    read_durability,
    read_generation,
    start_generation,
    tick_clock,
)
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.runtime.component import StartupError
from kpr_gateway.runtime.ledger_witness import (
    LedgerMark,
    LedgerWitness,
    WitnessUnavailableError,
    behind,
)

_log = logging.getLogger(__name__)

Mode = Literal["production", "development"]
Check = Callable[[], Awaitable[bool]]

_AFTER_A_LOSS = "see 'After a ledger loss' in docs/operations.md"


class LedgerNotDurableError(StartupError):
    """Production mode on a Redis without an append-only file synced every second."""


class LedgerLostError(StartupError):
    """The ledger's generation marker is missing or not the one the service started with."""


class LedgerHeldError(LedgerLostError):
    """The ledger is held (restored, or found older than what the services saw): no work on
    it until an operator has reconciled it and run ``kprgw ledger release``."""


_RELEASE = "reconcile it, then 'kprgw ledger release --reason ...' (docs/operations.md)"


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
        witness: LedgerWitness | None = None,
    ) -> None:
        """``durability``: how Redis' durability is read (tests give a Redis of their own
        kind without touching the server's configuration). ``witness``: where the newest
        ledger clock is kept outside Redis (None: the start compares with nothing)."""
        self._read_durability = durability
        self._witness = witness
        self._seen = 0
        """The ledger clock as this service last advanced it."""
        self._recording: asyncio.Task[None] | None = None
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
            generation = self._generation = await self._generation_at_start()
            if generation.hold is not None:
                _log.critical("the ledger is %s; not starting", generation.hold.describe())
                raise LedgerHeldError(
                    f"the ledger is {generation.hold.describe()}. No service works on it until "
                    f"an operator has dealt with it: {_RELEASE}"
                )
            self._seen = await tick_clock(self._redis, self._keys)
            await self._compare_with_witness(generation)
        except LedgerError as exc:
            raise StartupError(f"the ledger cannot be checked: {exc}") from exc
        _log.info("ledger %s, clock %d", generation.describe(), self._seen)

    async def _compare_with_witness(self, generation: Generation) -> None:
        if self._witness is None:
            return
        mark = self._mark(generation)
        try:
            witnessed = await self._witness.last()
        except WitnessUnavailableError as exc:
            _log.warning("%s; the ledger's age is not compared at this start", exc)
            return
        if witnessed is not None and behind(mark, witnessed):
            await self._hold_and_stop(
                HoldKind.BEHIND_WITNESS,
                f"the ledger clock is at {mark.clock} (incarnation {mark.incarnation}), the "
                f"services had seen {witnessed.clock} (incarnation {witnessed.incarnation}) "
                "before they stopped: Redis came back from an older copy",
            )
        if witnessed is not None and witnessed.generation != mark.generation:
            _log.warning(
                "the ledger witness was of generation %s, this ledger is %s: a new ledger, "
                "started by 'kprgw ledger init'",
                witnessed.generation,
                mark.generation,
            )
        await self._witness_record(mark)

    def _mark(self, generation: Generation) -> LedgerMark:
        return LedgerMark(
            generation=generation.id, incarnation=generation.incarnation, clock=self._seen
        )

    async def _witness_record(self, mark: LedgerMark) -> None:
        if self._witness is None:
            return
        try:
            await self._witness.record(mark)
        except WitnessUnavailableError as exc:
            _log.warning("%s; tried again at the next check", exc)

    def _witness_record_aside(self, mark: LedgerMark) -> None:
        """Record while the checks go on: a broker that does not answer (a connect waits up
        to its timeout) never slows the checks down. One recording at a time; a check that
        finds one still going leaves its mark to the next."""
        if self._witness is None or (self._recording is not None and not self._recording.done()):
            return
        self._recording = asyncio.create_task(self._witness_record(mark))

    async def _hold_and_stop(self, kind: HoldKind, found: str) -> NoReturn:
        """Hold the ledger (so that every service stops, and none starts) and stop."""
        hold = hold_now(kind, found)
        try:
            await hold_ledger(self._redis, self._keys, hold)
        except LedgerError:
            _log.exception("the hold could not be written; stopping all the same")
        _log.critical("the ledger went back in time: %s; held and stopping", found)
        raise LedgerHeldError(
            f"the ledger went back in time: {found}. Held: what happened after that copy is "
            f"not in it; {_RELEASE}"
        )

    async def aclose(self) -> None:
        """Close the witness' connection (the guard's Redis is the caller's)."""
        if self._recording is not None:
            self._recording.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recording
        if self._witness is not None:
            await self._witness.aclose()

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
        """Return never; raise ``LedgerLostError`` once the marker is missing or changed (a
        hold put on it included: ``LedgerHeldError``), or once the ledger clock went back. A
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
                self._stop_on(started, current)
            try:
                clock = await tick_clock(self._redis, self._keys)
            except LedgerError:
                continue
            if clock <= self._seen:
                await self._hold_and_stop(
                    HoldKind.WENT_BACK,
                    f"the ledger clock is at {clock}, this service had seen {self._seen}: Redis "
                    "came back from an older copy (its files, a snapshot) or lost its last writes",
                )
            self._seen = clock
            self._witness_record_aside(self._mark(started))

    def _stop_on(self, started: Generation, current: Generation | None) -> NoReturn:
        if current is not None and current.id == started.id and current.hold is not None:
            _log.critical("the ledger was %s; stopping", current.hold.describe())
            raise LedgerHeldError(
                f"the ledger was {current.hold.describe()}; stopped without draining. {_RELEASE}"
            )
        found = "gone" if current is None else f"now {current.describe()}"
        _log.critical("the ledger was lost or replaced: %s was %s; stopping", started.id, found)
        raise LedgerLostError(
            f"the ledger was lost or replaced while running ({started.describe()} "
            f"is {found}); stopped without draining. {_AFTER_A_LOSS}"
        )


async def _always_ready() -> bool:
    return True
