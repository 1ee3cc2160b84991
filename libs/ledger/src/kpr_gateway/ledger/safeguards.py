"""What keeps a lost ledger from passing silently: Redis' durability, and a generation marker.

A Redis without an append-only file loses the ledger on a restart; the services would then
take re-sent events for new ones and send them to KPR a second time, and number a
municipality's notifications from 1 again (a fork of its chain). So:

- ``read_durability`` tells whether Redis writes an append-only file and syncs it at least
  every second (``appendonly yes``, ``appendfsync always|everysec``). Services in production
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

    @property
    def sufficient(self) -> bool:
        return self.aof_enabled and self.appendfsync in SUFFICIENT_FSYNC

    def describe(self) -> str:
        fsync = self.appendfsync or "unknown (CONFIG GET refused)"
        return f"appendonly {'yes' if self.aof_enabled else 'no'}, appendfsync {fsync}"


async def read_durability(redis: Redis) -> Durability:
    try:
        persistence: dict[str, Any] = await redis.info("persistence")
    except RedisError as exc:
        raise LedgerUnavailableError("Redis does not answer INFO persistence") from exc
    try:
        config: dict[Any, Any] = await redis.config_get("appendfsync")
    except ResponseError:
        config = {}
    except RedisError as exc:
        raise LedgerUnavailableError("Redis does not answer CONFIG GET") from exc
    fsync = config.get("appendfsync", config.get(b"appendfsync"))
    if isinstance(fsync, bytes):
        fsync = fsync.decode()
    return Durability(
        aof_enabled=str(persistence.get("aof_enabled", "0")) == "1",
        appendfsync=fsync if isinstance(fsync, str) else None,
    )


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
    value = json.loads(stored)
    return Generation(id=str(value["id"]), created_at=str(value["created_at"]))


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
