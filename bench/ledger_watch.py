"""Follows submitted events to their end by reading the ledger in Redis directly.

Asking the API per event would cost the gateway more than the benchmark measures. Instead:
probe a few events not yet seen in a message; an event that is batched names its KPR messages,
and each message lists all its events, so one probe accounts for a whole batch. Then only the
few messages' states are polled. The end time is the latest ``acknowledged`` (or other final)
transition in the messages' own histories, so the poll interval does not blur it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace

FINAL_MESSAGE_STATES = frozenset(
    {
        "acknowledged",
        "acknowledged_with_errors",
        "rejected",
        "transport_error",
        "refused",
        "overdue",
    }
)
SETTLED_EVENT_STATES = frozenset({"rejected_invalid", "suppressed_test_person", "not_reportable"})
_PROBE = 200


@dataclass
class _Tenant:
    unplaced: dict[str, None]
    """Events not yet seen in a KPR message (a dict: ordered, cheap removal)."""
    messages: dict[str, str] = field(default_factory=dict)
    """msg_id -> last seen state."""
    events_per_message: dict[str, int] = field(default_factory=dict)
    settled_without_message: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Settlement:
    events: int
    messages: Counter[str]
    events_without_message: Counter[str]
    last_transition: datetime | None
    """When the last message reached its final state (the ledger's own timestamp)."""
    events_per_message: float


class LedgerWatch:
    def __init__(self, redis: Redis, keys: KeySpace, events: dict[str, list[str]]) -> None:
        self._redis = redis
        self._keys = keys
        self._tenants = {t: _Tenant(dict.fromkeys(ids)) for t, ids in events.items()}
        self._total = sum(len(ids) for ids in events.values())

    async def wait(self, *, timeout: float, interval: float = 0.25) -> Settlement:
        deadline = time.monotonic() + timeout
        while not await self.poll():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not settled after {timeout:.0f}s: {self.progress()}")
            await asyncio.sleep(interval)
        return await self.settlement()

    def progress(self) -> dict[str, Any]:
        states: Counter[str] = Counter()
        unplaced = 0
        for tenant in self._tenants.values():
            states.update(tenant.messages.values())
            unplaced += len(tenant.unplaced)
        return {"events_not_in_a_message": unplaced, "messages": dict(states)}

    async def poll(self) -> bool:
        """One round; True once every event is in a message and every message is final
        (or the event was settled without one)."""
        done = True
        for tenant_id, tenant in self._tenants.items():
            await self._place(tenant_id, tenant)
            await self._refresh(tenant_id, tenant)
            if tenant.unplaced or any(
                s not in FINAL_MESSAGE_STATES for s in tenant.messages.values()
            ):
                done = False
        return done

    async def _place(self, tenant_id: str, tenant: _Tenant) -> None:
        probe = list(itertools.islice(tenant.unplaced, _PROBE))
        if not probe:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id in probe:
                pipe.hmget(self._keys.event(tenant_id, event_id), ["state", "msg_ids"])
            answers: list[Any] = await pipe.execute()
        new_messages: set[str] = set()
        for event_id, (state, msg_ids) in zip(probe, answers, strict=True):
            if state is not None and state.decode() in SETTLED_EVENT_STATES:
                tenant.settled_without_message[state.decode()] += 1
                tenant.unplaced.pop(event_id, None)
            elif msg_ids:
                new_messages.update(m for m in json.loads(msg_ids) if m not in tenant.messages)
        if not new_messages:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for msg_id in new_messages:
                pipe.hmget(self._keys.message(tenant_id, msg_id), ["state", "event_ids"])
            records: list[Any] = await pipe.execute()
        for msg_id, (state, event_ids) in zip(new_messages, records, strict=True):
            listed = json.loads(event_ids) if event_ids else []
            tenant.messages[msg_id] = state.decode() if state else "unknown"
            tenant.events_per_message[msg_id] = len(listed)
            for event_id in listed:
                tenant.unplaced.pop(event_id, None)

    async def _refresh(self, tenant_id: str, tenant: _Tenant) -> None:
        open_ids = [m for m, s in tenant.messages.items() if s not in FINAL_MESSAGE_STATES]
        if not open_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for msg_id in open_ids:
                pipe.hget(self._keys.message(tenant_id, msg_id), "state")
            states: list[Any] = await pipe.execute()
        for msg_id, state in zip(open_ids, states, strict=True):
            tenant.messages[msg_id] = state.decode() if state else "unknown"

    async def settlement(self) -> Settlement:
        messages: Counter[str] = Counter()
        without: Counter[str] = Counter()
        last: datetime | None = None
        sizes: list[int] = []
        for tenant_id, tenant in self._tenants.items():
            messages.update(tenant.messages.values())
            without.update(tenant.settled_without_message)
            sizes += list(tenant.events_per_message.values())
            async with self._redis.pipeline(transaction=False) as pipe:
                for msg_id in tenant.messages:
                    pipe.lrange(self._keys.message_history(tenant_id, msg_id), -1, -1)
                ends: list[Any] = await pipe.execute()
            for entry in ends:
                if entry:
                    at = datetime.fromisoformat(json.loads(entry[0])["at"])
                    last = at if last is None or at > last else last
        return Settlement(
            events=self._total,
            messages=messages,
            events_without_message=without,
            last_transition=last,
            events_per_message=sum(sizes) / len(sizes) if sizes else 0.0,
        )
