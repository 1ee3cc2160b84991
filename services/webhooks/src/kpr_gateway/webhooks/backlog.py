"""The backlog gauge: how many notices wait on ``receipts``, read from the broker.

The queue has a length limit (``queues.RECEIPTS_MAX_LENGTH``): when it is full, receipts'
publishes are refused and the AppRecs wait on NHN. The gauge and the limit beside it let an
alert fire long before that (the rule is in the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import Gauge

from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.errors import PipelineError

_log = logging.getLogger(__name__)


class BacklogGauge:
    """Reads the depth of ``queue`` every ``interval_seconds`` while running."""

    def __init__(
        self,
        bus: Bus,
        queue: str,
        *,
        interval_seconds: float,
        depth: Gauge,
        limit: Gauge,
        limit_value: int | None,
    ) -> None:
        self._bus = bus
        self._queue = queue
        self._interval = interval_seconds
        self._depth = depth.labels(queue=queue)
        if limit_value is not None:
            limit.labels(queue=queue).set(limit_value)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._failing = False

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="webhooks-backlog-gauge")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def read(self) -> None:
        """One reading; a broker that cannot say leaves the last value (logged once)."""
        try:
            depth = await self._bus.queue_depth(self._queue)
        except PipelineError as exc:
            if not self._failing:
                _log.warning("the depth of %s cannot be read: %s", self._queue, exc)
            self._failing = True
            return
        if self._failing:
            _log.info("the depth of %s is read again", self._queue)
        self._failing = False
        self._depth.set(depth)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
