"""The backfill run: read batches, post a bounded number at a time, record the answers.

Memory stays flat whatever the file's size: at most ``in_flight`` batches are read ahead of
their answers, and nothing else of the file is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kpr_gateway.cli.backfill.answers import BatchOutcome
from kpr_gateway.cli.backfill.errors import BackfillStoppedError
from kpr_gateway.cli.backfill.journal import Journal
from kpr_gateway.cli.backfill.reader import Batch, BatchReader
from kpr_gateway.cli.backfill.sender import BatchSender, RetryPolicy
from kpr_gateway.cli.backfill.state import BackfillState, FileIdentity, load_state
from kpr_gateway.cli.backfill.throttle import Throttle, batch_sizes


@dataclass(frozen=True)
class BackfillPlan:
    file: Path
    tenant: str
    url: str
    """The API's base URL, e.g. https://kprgw.example.org."""
    api_key: str = field(repr=False)
    state_file: Path
    refused_file: Path
    batch_size: int = 1000
    in_flight: int = 4
    throttle: Throttle | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_seconds: float = 120.0
    restart: bool = False


def starting_state(plan: BackfillPlan) -> BackfillState:
    """The state to go on from: the state file's, unless there is none or ``restart``."""
    identity = FileIdentity.of(plan.file)
    state = None if plan.restart else load_state(plan.state_file)
    if state is None:
        return BackfillState(file=identity, tenant=plan.tenant, url=plan.url)
    state.check_belongs(identity, plan.tenant, plan.url)
    return state


class Backfill:
    """One run. ``journal.state`` holds the totals so far, also after an interruption."""

    def __init__(
        self,
        plan: BackfillPlan,
        state: BackfillState,
        *,
        on_progress: Callable[[int, int], None] = lambda _bytes, _events: None,
        on_note: Callable[[str], None] = lambda _: None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.plan = plan
        self.started_at_line = state.line
        self.journal = Journal(state, plan.state_file, plan.refused_file)
        self.events_this_run = 0
        self.retries = 0
        self._on_progress = on_progress
        self._on_note = on_note
        self._transport = transport

    async def run(self) -> None:
        """Send the rest of the file; ``BackfillStoppedError`` when the API will not go on."""
        if self.journal.state.done:
            return
        plan = self.plan
        limits = httpx.Limits(
            max_connections=plan.in_flight, max_keepalive_connections=plan.in_flight
        )
        async with httpx.AsyncClient(
            base_url=plan.url,
            timeout=plan.timeout_seconds,
            limits=limits,
            transport=self._transport,
        ) as client:
            sender = BatchSender(client, plan.api_key, retry=plan.retry, on_retry=self._on_note)
            try:
                await self._send_all(sender)
            finally:
                self.retries = sender.retries

    async def _send_all(self, sender: BatchSender) -> None:
        plan = self.plan
        throttle = plan.throttle
        burst = throttle.events_per_message if throttle is not None else None
        reader = BatchReader(
            plan.file,
            offset=self.journal.state.offset,
            line=self.journal.state.line,
            sizes=batch_sizes(plan.batch_size, burst),
        )
        pending: set[asyncio.Task[tuple[Batch, BatchOutcome]]] = set()
        events_read = 0
        try:
            for batch in reader:
                while len(pending) >= plan.in_flight:
                    await self._collect(pending)
                if throttle is not None and events_read % throttle.events_per_message == 0:
                    await self._wait(throttle.delay(), pending)
                events_read += len(batch.lines)
                pending.add(asyncio.create_task(self._post(sender, batch)))
            while pending:
                await self._collect(pending)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self.journal.finish(reader.position, reader.line)

    @staticmethod
    async def _post(sender: BatchSender, batch: Batch) -> tuple[Batch, BatchOutcome]:
        return batch, await sender.send(batch)

    async def _collect(
        self, pending: set[asyncio.Task[tuple[Batch, BatchOutcome]]], timeout: float | None = None
    ) -> None:
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            pending.discard(task)
        # Record every batch that made it before a failure is raised, so the state moves as far
        # as it can.
        failure: BaseException | None = None
        for task in sorted(done, key=lambda t: 0 if t.exception() is None else 1):
            if (error := task.exception()) is not None:
                failure = failure or error
                continue
            batch, outcome = task.result()
            self.journal.acknowledge(batch, outcome)
            self.events_this_run += outcome.sent
            self._on_progress(self.journal.state.offset, self.events_this_run)
        if failure is not None:
            raise failure

    async def _wait(
        self, seconds: float, pending: set[asyncio.Task[tuple[Batch, BatchOutcome]]]
    ) -> None:
        """Wait ``seconds`` for the throttle, recording answers that arrive meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if pending:
                await self._collect(pending, timeout=left)
            else:
                await asyncio.sleep(left)

    def close(self) -> None:
        self.journal.close()


__all__ = ["Backfill", "BackfillPlan", "BackfillStoppedError", "starting_state"]
