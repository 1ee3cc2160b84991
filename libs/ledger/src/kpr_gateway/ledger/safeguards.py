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
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from kpr_gateway.ledger.errors import LedgerUnavailableError
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


@dataclass(frozen=True, slots=True)
class Generation:
    id: str
    created_at: str

    def describe(self) -> str:
        return f"generation {self.id} (started {self.created_at})"


def generation_key(keys: KeySpace) -> str:
    return f"{keys.prefix}:ledger-generation"


async def read_generation(redis: Redis, keys: KeySpace) -> Generation | None:
    try:
        stored = await redis.get(generation_key(keys))
    except RedisError as exc:
        raise LedgerUnavailableError("ledger read failed (generation)") from exc
    if stored is None:
        return None
    try:
        value = json.loads(stored)
        return Generation(id=str(value["id"]), created_at=str(value["created_at"]))
    except (ValueError, TypeError, KeyError):
        # Not what `ledger init` writes: read as another ledger's, which stops the services.
        return Generation(id="(unreadable)", created_at="unknown")


async def start_generation(redis: Redis, keys: KeySpace) -> tuple[Generation, bool]:
    """The ledger's generation, written now if it has none; True when this call wrote it."""
    fresh = Generation(id=str(uuid.uuid4()), created_at=datetime.now(UTC).isoformat())
    try:
        written = await redis.set(
            generation_key(keys),
            json.dumps({"id": fresh.id, "created_at": fresh.created_at}),
            nx=True,
        )
    except RedisError as exc:
        raise LedgerUnavailableError("ledger write failed (generation)") from exc
    if written:
        return fresh, True
    current = await read_generation(redis, keys)
    if current is None:  # deleted between the two calls: a ledger being wiped
        raise LedgerUnavailableError("the ledger's generation vanished while it was read")
    return current, False
