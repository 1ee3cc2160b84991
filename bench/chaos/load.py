"""Sustained load for the chaos run: batches POSTed to ``/v1/events/batch`` at a steady pace,
retried as an EPJ would.

Bounded twice: ``events`` in all (the bodies prepared before the clock starts, by
``bench.batches.prepare``) and ``seconds``: no batch is started after that, and the batches
started are paced evenly over it. A POST answered 503 or 429, or failing on the connection
(intake killed, restarting, paused on Redis) is sent again with the same body, so the same
event ids, after a short pause, until ``retry_seconds`` after the time limit. Only events
answered 202 in a batch's answer count as accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from bench.batches import Batch

RETRY_PAUSE_SECONDS: Final = 0.5
RETRY_PAUSE_CAP_SECONDS: Final = 2.0
RETRIED_STATUSES: Final = frozenset({429, 503})


@dataclass
class LoadResult:
    accepted: dict[str, list[str]] = field(default_factory=dict)
    """Event ids answered 202, per tenant."""
    refused: Counter[int] = field(default_factory=Counter)
    """Events answered otherwise in a batch's answer, by status code."""
    retries: Counter[str] = field(default_factory=Counter)
    """POSTs sent again, by cause (503, 429, connection)."""
    batches_posted: int = 0
    batches_given_up: int = 0
    """Batches still without an answer at the retry deadline (their events not counted)."""
    batches_not_started: int = 0
    """Batches the time limit came before (the load fell behind its pace)."""
    seconds: float = 0.0

    @property
    def accepted_count(self) -> int:
        return sum(len(ids) for ids in self.accepted.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted_count,
            "refused_by_status": {str(k): v for k, v in sorted(self.refused.items())},
            "retries": dict(self.retries),
            "batches_posted": self.batches_posted,
            "batches_given_up": self.batches_given_up,
            "batches_not_started": self.batches_not_started,
            "seconds": round(self.seconds, 1),
        }


async def post_paced(
    url: str,
    batches: list[Batch],
    *,
    seconds: float,
    retry_seconds: float = 60.0,
    concurrency: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadResult:
    """POST ``batches`` evenly over ``seconds`` (batch i not before i * seconds / n)."""
    result = LoadResult()
    started = time.monotonic()
    interval = seconds / max(1, len(batches))
    start_deadline = started + seconds
    retry_deadline = start_deadline + retry_seconds
    pending = list(enumerate(batches))
    pending.reverse()

    async def poster(client: httpx.AsyncClient) -> None:
        while pending:
            index, batch = pending.pop()
            await asyncio.sleep(max(0.0, started + index * interval - time.monotonic()))
            if time.monotonic() > start_deadline:
                result.batches_not_started += 1
                continue
            answer = await _post_until_answered(client, batch, result, retry_deadline)
            if answer is None:
                result.batches_given_up += 1
                continue
            result.batches_posted += 1
            accepted = result.accepted.setdefault(batch.tenant, [])
            for item in answer["results"]:
                if item["status_code"] == 202:
                    accepted.append(item["event_id"])
                else:
                    result.refused[int(item["status_code"])] += 1

    async with httpx.AsyncClient(base_url=url, timeout=60, transport=transport) as client:
        await asyncio.gather(*(poster(client) for _ in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result


async def _post_until_answered(
    client: httpx.AsyncClient, batch: Batch, result: LoadResult, deadline: float
) -> dict[str, Any] | None:
    """The batch's answer (200), retrying what an EPJ retries; None past the deadline.
    Any other status is the load's own mistake and stops the run."""
    pause = RETRY_PAUSE_SECONDS
    headers = {"Authorization": f"Bearer {batch.api_key}", "Content-Type": "application/json"}
    while True:
        try:
            answer = await client.post("/v1/events/batch", content=batch.body, headers=headers)
        except httpx.TransportError:
            cause = "connection"
        else:
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                return body
            if answer.status_code not in RETRIED_STATUSES:
                raise RuntimeError(f"a batch was answered {answer.status_code}: {answer.text}")
            cause = str(answer.status_code)
        result.retries[cause] += 1
        if time.monotonic() + pause > deadline:
            return None
        await asyncio.sleep(pause)
        pause = min(RETRY_PAUSE_CAP_SECONDS, pause * 2)
