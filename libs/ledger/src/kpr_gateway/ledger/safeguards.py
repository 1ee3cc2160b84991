"""What keeps a lost ledger from passing silently: Redis' durability, and a generation marker.

A Redis without an append-only file loses the ledger on a restart; the services would then
take re-sent events for new ones and send them to KPR a second time, and number a
municipality's notifications from 1 again (a fork of its chain). So:

- ``read_durability`` tells whether Redis writes an append-only file and syncs it at least
  every second (``appendonly yes``, ``appendfsync always|everysec``), and never evicts keys
  when full (no ``maxmemory``, or ``maxmemory-policy noeviction``). Services in production
  mode refuse a Redis without (unless explicitly allowed: ``runtime``).
- The generation marker is one key written once, when a ledger is started
  (``kprgw ledger init``, or by a service in development mode). It is never deleted: a
  ledger without it is empty or not the one the gateway wrote, and a service that finds it
  missing or changed stops instead of carrying on.
- A ledger that comes back from an older copy misses what happened after the copy: messages
  sent, events accepted, chain links numbered. The marker then carries a *hold*
  (``kprgw ledger restore`` writes one, a service that sees the ledger go back in time
  writes one): no service runs on a held ledger until an operator has reconciled it with
  KPR and released it (``kprgw ledger release``), which raises the marker's incarnation.
- The ledger clock (``<prefix>:ledger-clock``) is a counter the services advance on every
  check of the marker and remember. A ledger restored from older files (Redis' own AOF or
  RDB, a volume snapshot) brings back an older, lower clock: the next check finds it at or
  below what the service saw last and holds the ledger. Nothing on the write path touches it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from kpr_gateway.ledger.errors import LedgerError, LedgerUnavailableError
from kpr_gateway.ledger.keys import KeySpace

SUFFICIENT_FSYNC = frozenset({"always", "everysec"})


@dataclass(frozen=True, slots=True)
class Durability:
    aof_enabled: bool
    appendfsync: str | None
    """None when Redis does not answer CONFIG GET (some managed services rename it)."""
    evicts: bool = False
    """Redis may drop keys when full (a maxmemory with a policy other than noeviction)."""

    @property
    def sufficient(self) -> bool:
        return self.aof_enabled and self.appendfsync in SUFFICIENT_FSYNC and not self.evicts

    def describe(self) -> str:
        fsync = self.appendfsync or "unknown (CONFIG GET refused)"
        described = f"appendonly {'yes' if self.aof_enabled else 'no'}, appendfsync {fsync}"
        if self.evicts:
            described += ", and it evicts keys when full (maxmemory-policy is not noeviction)"
        return described


async def read_durability(redis: Redis) -> Durability:
    try:
        persistence: dict[str, Any] = await redis.info("persistence")
    except RedisError as exc:
        raise LedgerUnavailableError("Redis does not answer INFO persistence") from exc
    fsync = await _config(redis, "appendfsync")
    maxmemory = await _config(redis, "maxmemory")
    policy = await _config(redis, "maxmemory-policy")
    return Durability(
        aof_enabled=str(persistence.get("aof_enabled", "0")) == "1",
        appendfsync=fsync,
        evicts=maxmemory not in (None, "0") and policy not in (None, "noeviction"),
    )


async def _config(redis: Redis, name: str) -> str | None:
    """One CONFIG GET value; None when Redis refuses the command (some managed services)."""
    try:
        config: dict[Any, Any] = await redis.config_get(name)
    except ResponseError:
        return None
    except RedisError as exc:
        raise LedgerUnavailableError("Redis does not answer CONFIG GET") from exc
    value = config.get(name, config.get(name.encode()))
    if isinstance(value, bytes):
        value = value.decode()
    return value if isinstance(value, str) else None


class HoldKind(StrEnum):
    RESTORING = "restoring"
    """``kprgw ledger restore`` is writing the keys (or stopped before it finished)."""
    RESTORED = "restored"
    """Restored from a backup by ``kprgw ledger restore``."""
    WENT_BACK = "went_back"
    """A service found the ledger clock below what it had seen: an older copy came back."""
    BEHIND_WITNESS = "behind_witness"
    """At start, the ledger was older than what the services last wrote outside Redis."""
    OPERATOR = "operator"
    """Put by an operator (``kprgw ledger hold``), e.g. after restoring Redis' own files."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Why no service may work on the ledger until an operator releases it."""

    kind: HoldKind
    since: str
    reason: str
    """What happened, for the operator: times, counts and ledger ids only."""
    backup_taken_at: str | None = None
    """When the copy the ledger came back from was taken, where known."""

    def describe(self) -> str:
        taken = f"; the copy was taken at {self.backup_taken_at}" if self.backup_taken_at else ""
        return f"held ({self.kind}) since {self.since}: {self.reason}{taken}"


def hold_now(kind: HoldKind, reason: str, *, backup_taken_at: str | None = None) -> Hold:
    return Hold(kind=kind, since=_now(), reason=reason, backup_taken_at=backup_taken_at)


@dataclass(frozen=True, slots=True)
class Release:
    at: str
    reason: str
    hold: Hold


@dataclass(frozen=True, slots=True)
class Generation:
    id: str
    created_at: str
    incarnation: int = 0
    """0 until the first release; then raised by every release (to its time in ms since the
    epoch, or one more when the clock is behind), so a copy taken before a release reads as
    older than the ledger that was released."""
    hold: Hold | None = None
    released: Release | None = None
    """The last release, for ``kprgw ledger status``."""

    def describe(self) -> str:
        described = f"generation {self.id} (started {self.created_at})"
        if self.hold is not None:
            described += f", {self.hold.describe()}"
        return described


UNREADABLE = "(unreadable)"


def generation_key(keys: KeySpace) -> str:
    return f"{keys.prefix}:ledger-generation"


def clock_key(keys: KeySpace) -> str:
    return f"{keys.prefix}:ledger-clock"


def encode_generation(generation: Generation) -> str:
    value: dict[str, Any] = {"id": generation.id, "created_at": generation.created_at}
    if generation.incarnation:
        value["incarnation"] = generation.incarnation
    if generation.hold is not None:
        value["hold"] = _hold_json(generation.hold)
    if generation.released is not None:
        released = generation.released
        value["released"] = {
            "at": released.at,
            "reason": released.reason,
            "hold": _hold_json(released.hold),
        }
    return json.dumps(value)


def decode_generation(stored: bytes | str) -> Generation:
    """The marker as written by ``encode_generation``; anything else reads as another
    ledger's marker (``UNREADABLE``), which stops the services."""
    try:
        value = json.loads(stored)
        released = value.get("released")
        return Generation(
            id=str(value["id"]),
            created_at=str(value["created_at"]),
            incarnation=int(value.get("incarnation", 0)),
            hold=_hold_of(value["hold"]) if value.get("hold") else None,
            released=Release(
                at=str(released["at"]),
                reason=str(released["reason"]),
                hold=_hold_of(released["hold"]),
            )
            if released
            else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return Generation(id=UNREADABLE, created_at="unknown")


def _hold_json(hold: Hold) -> dict[str, str]:
    value = {"kind": hold.kind.value, "since": hold.since, "reason": hold.reason}
    if hold.backup_taken_at is not None:
        value["backup_taken_at"] = hold.backup_taken_at
    return value


def _hold_of(value: dict[str, Any]) -> Hold:
    taken = value.get("backup_taken_at")
    return Hold(
        kind=HoldKind(value["kind"]),
        since=str(value["since"]),
        reason=str(value["reason"]),
        backup_taken_at=str(taken) if taken is not None else None,
    )


async def read_generation(redis: Redis, keys: KeySpace) -> Generation | None:
    try:
        stored = await redis.get(generation_key(keys))
    except RedisError as exc:
        raise LedgerUnavailableError("ledger read failed (generation)") from exc
    return None if stored is None else decode_generation(stored)


async def start_generation(redis: Redis, keys: KeySpace) -> tuple[Generation, bool]:
    """The ledger's generation, written now if it has none; True when this call wrote it."""
    fresh = Generation(id=str(uuid.uuid4()), created_at=_now())
    try:
        written = await redis.set(generation_key(keys), encode_generation(fresh), nx=True)
    except RedisError as exc:
        raise LedgerUnavailableError("ledger write failed (generation)") from exc
    if written:
        return fresh, True
    current = await read_generation(redis, keys)
    if current is None:  # deleted between the two calls: a ledger being wiped
        raise LedgerUnavailableError("the ledger's generation vanished while it was read")
    return current, False


async def write_generation(redis: Redis, keys: KeySpace, generation: Generation) -> None:
    """Write the marker whatever is there (a restore writes the backup's, with its hold)."""
    try:
        await redis.set(generation_key(keys), encode_generation(generation))
    except RedisError as exc:
        raise LedgerUnavailableError("ledger write failed (generation)") from exc


async def hold_ledger(redis: Redis, keys: KeySpace, hold: Hold) -> Generation | None:
    """Put ``hold`` on the marker, unless it carries one already (the first stays: it says
    what happened first). Returns the marker as it is now; None when there is none (a lost
    ledger stops the services by itself)."""

    def held(current: Generation) -> Generation | None:
        if current.hold is not None or current.id == UNREADABLE:
            return None
        return replace(current, hold=hold)

    return await _change_generation(redis, keys, held)


class ReleaseRefusedError(LedgerError):
    """``release`` of a ledger that is not held, or whose restore did not finish."""


async def release_ledger(redis: Redis, keys: KeySpace, reason: str) -> Generation:
    """Lift the hold after the operator's reconciliation; the incarnation rises, so that a
    witness of the ledger before the release no longer reads it as older."""
    now = datetime.now(UTC)

    def released(current: Generation) -> Generation:
        hold = current.hold
        if current.id == UNREADABLE:
            raise ReleaseRefusedError("the generation marker is not one the gateway wrote")
        if hold is None:
            raise ReleaseRefusedError("the ledger is not held: nothing to release")
        if hold.kind is HoldKind.RESTORING:
            raise ReleaseRefusedError(
                "a restore started and did not finish: run 'kprgw ledger restore --replace' "
                "again with the same backup"
            )
        return replace(
            current,
            incarnation=max(current.incarnation + 1, int(now.timestamp() * 1000)),
            hold=None,
            released=Release(at=now.isoformat(), reason=reason, hold=hold),
        )

    result = await _change_generation(redis, keys, released)
    if result is None:
        raise ReleaseRefusedError("the ledger has no generation marker: nothing to release")
    return result


# Sets KEYS[1] to ARGV[2] only while it still holds ARGV[1]: the marker's read-change-write
# without losing a change another writer made in between. Returns 1 when set, 0 when not.
_SET_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


async def _change_generation(
    redis: Redis, keys: KeySpace, change: Callable[[Generation], Generation | None]
) -> Generation | None:
    """Read, change and write the marker (read again when another writer came in between).
    ``change`` answers None to leave it as it is. None when there is no marker."""
    key = generation_key(keys)
    try:
        while True:
            stored = await redis.get(key)
            if stored is None:
                return None
            current = decode_generation(stored)
            changed = change(current)
            if changed is None:
                return current
            written = await redis.eval(
                _SET_IF_UNCHANGED, 1, key, stored, encode_generation(changed)
            )
            if int(written) == 1:
                return changed
    except RedisError as exc:
        raise LedgerUnavailableError("ledger write failed (generation)") from exc


async def tick_clock(redis: Redis, keys: KeySpace) -> int:
    """Advance the ledger clock by one and return it."""
    try:
        return int(await redis.incr(clock_key(keys)))
    except RedisError as exc:
        raise LedgerUnavailableError("ledger write failed (clock)") from exc


async def read_clock(redis: Redis, keys: KeySpace) -> int:
    try:
        stored = await redis.get(clock_key(keys))
    except RedisError as exc:
        raise LedgerUnavailableError("ledger read failed (clock)") from exc
    return int(stored) if stored is not None else 0


def _now() -> str:
    return datetime.now(UTC).isoformat()
