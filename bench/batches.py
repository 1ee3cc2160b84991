"""The end-to-end load: events for every tenant, posted to ``/v1/events/batch`` in batches.

The bodies are prepared before the clock starts, so the benchmark's own JSON encoding is
not part of the measured time.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass

import httpx

from kpr_gateway.cli.demo.samples import event


@dataclass(frozen=True)
class Batch:
    tenant: str
    api_key: str
    event_ids: list[str]
    body: bytes


def prepare(
    tenants: dict[str, tuple[str, str]], *, total: int, batch_size: int, seed: int = 2026
) -> list[Batch]:
    """``total`` valid events spread evenly over ``tenants`` (id -> (API key, municipality
    number)), in batches of ``batch_size``, tenants taking turns."""
    rng = random.Random(seed)  # noqa: S311 - test data
    per_tenant = total // len(tenants)
    queues: list[list[Batch]] = []
    for tenant, (api_key, municipality) in tenants.items():
        people = [event(rng, municipality) for _ in range(1000)]
        batches = []
        for start in range(0, per_tenant, batch_size):
            events = [
                {
                    **people[(start + i) % len(people)],
                    "event_id": str(uuid.uuid4()),
                    "occurrence_id": str(uuid.uuid4()),
                }
                for i in range(min(batch_size, per_tenant - start))
            ]
            batches.append(
                Batch(tenant, api_key, [e["event_id"] for e in events], json.dumps(events).encode())
            )
        queues.append(batches)
    return [b for group in zip(*queues, strict=True) for b in group]


@dataclass(frozen=True)
class PostResult:
    accepted: int
    refused: int
    seconds: float
    """From the first POST until the last answer."""


async def post_all(url: str, batches: list[Batch], *, concurrency: int) -> PostResult:
    """POST every batch, ``concurrency`` at a time; a batch that is not 200 stops the run."""
    pending = list(reversed(batches))
    accepted = refused = 0

    async def poster(client: httpx.AsyncClient) -> None:
        nonlocal accepted, refused
        while pending:
            batch = pending.pop()
            answer = await client.post(
                "/v1/events/batch",
                content=batch.body,
                headers={
                    "Authorization": f"Bearer {batch.api_key}",
                    "Content-Type": "application/json",
                },
            )
            answer.raise_for_status()
            result = answer.json()
            accepted += result["accepted"]
            refused += result["rejected"]

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(poster(client) for _ in range(concurrency)))
    return PostResult(accepted, refused, time.perf_counter() - started)
