"""The overdue sweep: dispatched messages without an outcome past the deadline become
``overdue`` in the ledger, and each tenant's overdue count is exported as a gauge.

Every replica runs it; that is harmless, as marking is forward-only in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import Counter, Gauge

from kpr_gateway.ledger import Ledger, LedgerError

_log = logging.getLogger(__name__)
_LOGGED_IDS = 10


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
    ) -> None:
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
        while not self._stopping.is_set():
            await self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
