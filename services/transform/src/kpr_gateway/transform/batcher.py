"""Groups a tenant's events into batches: flush at max events, at max age, or on request.

A batch is keyed by tenant, municipality number and EPJ system: one KPR message has one
municipality (``Kommune``) and names one EPJ system (``leverandor``, ``navnEPJ``,
``versjonEPJ``).

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

from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.pipeline.contracts import AcceptedEvent
from kpr_gateway.tenancy import MeldingProfile

_log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class PendingEvent:
    accepted: AcceptedEvent
    event: Notification
    span_context: trace.SpanContext
    event_id: str
    """``str(accepted.event_id)``, kept: batches key and list events by it."""
    waiter: _Waiter | None = field(default=None, init=False, repr=False)
    """Set by ``Batcher.add``: what its call waits on."""
    _finished: bool = field(default=False, init=False, repr=False)

    @property
    def finished(self) -> bool:
        return self._finished

    def succeed(self) -> None:
        """The event is in a committed batch (or was settled by an earlier delivery)."""
        if not self._finished:
            self._finished = True
            if self.waiter is not None:
                self.waiter.one_succeeded()

    def fail(self, exc: BaseException) -> None:
        if not self._finished:
            self._finished = True
            if self.waiter is not None:
                self.waiter.failed(exc)


class _Waiter:
    """What one ``add`` call waits for: all its events to succeed, or the first to fail.

    As ``asyncio.gather`` over one future per event did, with one future per call: a future
    per event cost ~4 µs an event in creation, callbacks and scheduling.
    """

    __slots__ = ("future", "remaining")

    def __init__(self, remaining: int) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.remaining = remaining
        if remaining == 0:
            self.future.set_result(None)

    def one_succeeded(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(None)

    def failed(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


BatchKey = tuple[str, str, MeldingProfile]
"""(tenant id, municipality number, the EPJ system and contacts its messages name)."""

Flush = Callable[[BatchKey, Sequence[PendingEvent]], Awaitable[None]]


class Batcher:
    def __init__(
        self, flush: Flush, *, max_events: int, max_age: float, max_waiting: int | None = None
    ) -> None:
        """``max_waiting``: flush at once when this many ``add`` calls wait (the bus's
        prefetch): no more deliveries can arrive to fill the batch, so waiting for max age
        would only stall the queue."""
        self._flush = flush
        self._max_events = max_events
        self._max_age = max_age
        self._max_waiting = max_waiting
        self._waiting = 0
        self._pending: dict[BatchKey, list[PendingEvent]] = {}
        self._timers: dict[BatchKey, asyncio.Task[None]] = {}
        self._locks: dict[BatchKey, asyncio.Lock] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    def pending_count(self, tenant_id: str | None = None) -> int:
        return sum(len(items) for key, items in self._pending.items() if _of(key, tenant_id))

    async def add(self, key: BatchKey, items: Sequence[PendingEvent]) -> None:
        """Queue the events and wait until their batches are committed and published."""
        if not items:
            return
        waiter = _Waiter(sum(1 for item in items if not item.finished))
        for item in items:
            item.waiter = waiter
        pending = self._pending.setdefault(key, [])
        pending.extend(items)
        while len(pending) >= self._max_events:
            self._start_flush(key, self._take(key))
            pending = self._pending.setdefault(key, [])
        if pending and key not in self._timers:
            self._timers[key] = asyncio.create_task(self._flush_when_old(key))
        self._waiting += 1
        try:
            if self._max_waiting is not None and self._waiting >= self._max_waiting:
                for full in [k for k, v in self._pending.items() if v]:
                    self._start_flush(full, self._take(full))
            await waiter.future
        finally:
            self._waiting -= 1

    async def flush(self, tenant_id: str | None = None) -> None:
        """Flush now (the operator's flush, and shutdown): one tenant or all."""
        keys = [key for key in self._pending if _of(key, tenant_id)]
        tasks = [self._start_flush(k, self._take(k)) for k in keys if self._pending.get(k)]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
        for timer in self._timers.values():
            timer.cancel()
        await asyncio.gather(*self._flushes, return_exceptions=True)

    def _take(self, key: BatchKey) -> list[PendingEvent]:
        pending = self._pending.pop(key, [])
        taken, rest = pending[: self._max_events], pending[self._max_events :]
        if rest:
            self._pending[key] = rest
        timer = self._timers.pop(key, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        return taken

    async def _flush_when_old(self, key: BatchKey) -> None:
        await asyncio.sleep(self._max_age)
        items = self._take(key)
        if items:
            await self._start_flush(key, items)

    def _start_flush(self, key: BatchKey, items: list[PendingEvent]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run_flush(key, items))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)
        if self._pending.get(key) and key not in self._timers:
            self._timers[key] = asyncio.create_task(self._flush_when_old(key))
        return task

    async def _run_flush(self, key: BatchKey, items: list[PendingEvent]) -> None:
        # One flush at a time per key keeps a tenant's batches in submission order.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                await self._flush(key, items)
            except Exception as exc:
                _log.warning(
                    "batch of %d events for tenant %s failed: %s",
                    len(items),
                    key[0],
                    type(exc).__name__,
                )
                for item in items:
                    item.fail(exc)
                return
        for item in items:
            item.succeed()


def _of(key: BatchKey, tenant_id: str | None) -> bool:
    return tenant_id is None or key[0] == tenant_id
