"""Groups a tenant's events into batches: flush at max events, at max age, or on request.

A chunk's handler waits until every one of its events is in a committed batch, so the
chunk is acknowledged only after its events are in the ledger and on the next queue. A
failed flush fails the handlers that wait on it, and the bus retries their chunks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace

from kpr_gateway.messages.kpr_ktt_v1 import KttEvent
from kpr_gateway.pipeline.contracts import AcceptedEvent

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingEvent:
    accepted: AcceptedEvent
    event: KttEvent
    span_context: trace.SpanContext
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Flush = Callable[[str, Sequence[PendingEvent]], Awaitable[None]]


class Batcher:
    def __init__(self, flush: Flush, *, max_events: int, max_age: float) -> None:
        self._flush = flush
        self._max_events = max_events
        self._max_age = max_age
        self._pending: dict[str, list[PendingEvent]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    def pending_count(self, tenant_id: str | None = None) -> int:
        if tenant_id is not None:
            return len(self._pending.get(tenant_id, ()))
        return sum(len(items) for items in self._pending.values())

    async def add(self, tenant_id: str, items: Sequence[PendingEvent]) -> None:
        """Queue the events and wait until their batches are committed and published."""
        if not items:
            return
        pending = self._pending.setdefault(tenant_id, [])
        pending.extend(items)
        while len(pending) >= self._max_events:
            self._start_flush(tenant_id, self._take(tenant_id))
            pending = self._pending.setdefault(tenant_id, [])
        if pending and tenant_id not in self._timers:
            self._timers[tenant_id] = asyncio.create_task(self._flush_when_old(tenant_id))
        await asyncio.gather(*(item.done for item in items))

    async def flush(self, tenant_id: str | None = None) -> None:
        """Flush now (the operator's flush, and shutdown): one tenant or all."""
        tenants = [tenant_id] if tenant_id is not None else list(self._pending)
        tasks = [self._start_flush(t, self._take(t)) for t in tenants if self._pending.get(t)]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
        for timer in self._timers.values():
            timer.cancel()
        await asyncio.gather(*self._flushes, return_exceptions=True)

    def _take(self, tenant_id: str) -> list[PendingEvent]:
        pending = self._pending.pop(tenant_id, [])
        taken, rest = pending[: self._max_events], pending[self._max_events :]
        if rest:
            self._pending[tenant_id] = rest
        timer = self._timers.pop(tenant_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        return taken

    async def _flush_when_old(self, tenant_id: str) -> None:
        await asyncio.sleep(self._max_age)
        items = self._take(tenant_id)
        if items:
            await self._start_flush(tenant_id, items)

    def _start_flush(self, tenant_id: str, items: list[PendingEvent]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run_flush(tenant_id, items))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)
        if self._pending.get(tenant_id) and tenant_id not in self._timers:
            self._timers[tenant_id] = asyncio.create_task(self._flush_when_old(tenant_id))
        return task

    async def _run_flush(self, tenant_id: str, items: list[PendingEvent]) -> None:
        # One flush at a time per tenant keeps a tenant's batches in submission order.
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            try:
                await self._flush(tenant_id, items)
            except Exception as exc:
                _log.warning(
                    "batch of %d events for tenant %s failed: %s",
                    len(items),
                    tenant_id,
                    type(exc).__name__,
                )
                for item in items:
                    if not item.done.done():
                        item.done.set_exception(exc)
                return
        for item in items:
            if not item.done.done():
                item.done.set_result(None)
