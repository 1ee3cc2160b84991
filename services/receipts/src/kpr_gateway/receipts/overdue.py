"""The overdue sweep: dispatched messages without an outcome past the deadline become
``overdue`` in the ledger, and each tenant's overdue count is exported as a gauge.

Every replica runs it; that is harmless, as marking is forward-only in the ledger.

The first pass waits until the backlog on NHN's queues has been read: after an outage the
AppRecs that came meanwhile wait there, and sweeping first would raise overdue alerts for
messages whose answers are a few seconds away. Read means: no message arrived for
``quiet_seconds`` (``BacklogWatch``); AMQP 1.0 tells a receiver nothing of a queue's depth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from prometheus_client import Counter, Gauge

from kpr_gateway.ledger import Ledger, LedgerError

_log = logging.getLogger(__name__)
_LOGGED_IDS = 10


class BacklogWatch:
    """When a receiver's backlog has been read: ``quiet_seconds`` without a message."""

    def __init__(
        self, quiet_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._quiet = quiet_seconds
        self._clock = clock
        self._last = clock()

    def arrived(self) -> None:
        self._last = self._clock()

    async def read(self) -> None:
        """Return once no message has arrived for ``quiet_seconds``."""
        while (waited := self._clock() - self._last) < self._quiet:
            await asyncio.sleep(self._quiet - waited)


class OverdueSweep:
    def __init__(
        self,
        ledger: Ledger,
        tenant_ids: Sequence[str],
        *,
        deadline: timedelta,
        interval_seconds: float,
        overdue: Gauge,
        marked: Counter,
        backlog: BacklogWatch | None = None,
    ) -> None:
        self._backlog = backlog
        self._ledger = ledger
        self._tenant_ids = tuple(tenant_ids)
        self._deadline = deadline
        self._interval = interval_seconds
        self._overdue = overdue
        self._marked = marked
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="receipts-overdue-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            # The flag as well as the cancel: a cancel that lands inside a Redis call can be
            # swallowed there (seen once: the sweep then slept its whole interval, an hour in
            # the tests, and stop() waited for it).
            self._stopping.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> None:
        """One pass over every tenant; a tenant whose ledger fails is tried on the next pass."""
        for tenant_id in self._tenant_ids:
            try:
                marked = await self._ledger.mark_overdue(tenant_id, older_than=self._deadline)
                count = await self._ledger.overdue_count(tenant_id)
            except LedgerError as exc:
                _log.warning("overdue sweep for tenant %s failed: %s", tenant_id, exc)
                continue
            if marked:
                _log.warning(
                    "tenant %s: %d message(s) without a receipt after %s, first: %s",
                    tenant_id,
                    len(marked),
                    self._deadline,
                    ", ".join(marked[:_LOGGED_IDS]),
                )
                self._marked.labels(tenant=tenant_id).inc(len(marked))
            self._overdue.labels(tenant=tenant_id).set(count)

    async def _run(self) -> None:
        if self._backlog is not None:
            await self._backlog.read()
        while not self._stopping.is_set():
            await self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
