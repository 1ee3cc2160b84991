"""Load generator for ``POST /v1/events``: many keep-alive HTTP/1.1 connections, each sending
one event at a time and waiting for the answer (a closed loop, like EPJ clients would).

It runs in a process of its own so that it does not share an event loop with what it
measures, and it speaks HTTP over plain asyncio streams: an HTTP client library would spend
several times the CPU per request, CPU that the 2-core machine's gateway needs.

    python -m bench.loadgen --url URL --clients FILE --seconds 20 --warmup 3 --out RESULT.json

``--clients`` is a JSON list of {"tenant", "api_key", "municipality_number"}; connections are
spread over them. Only requests started after the warm-up and before the end are counted.
The result holds the rate, latency percentiles and the accepted event ids per tenant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kpr_gateway.cli.demo.samples import event


@dataclass(frozen=True)
class Client:
    tenant: str
    api_key: str
    municipality_number: str


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: dict[str, list[str]] = field(default_factory=dict)


class EventFactory:
    """Valid, distinct notifications: fresh event and occurrence ids each time, people and
    services from a prepared pool."""

    def __init__(self, municipality_number: str, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - test data
        self._templates = [event(rng, municipality_number) for _ in range(500)]
        self._next = 0

    def body(self) -> tuple[str, bytes]:
        template = self._templates[self._next % len(self._templates)]
        self._next += 1
        event_id = str(uuid.uuid4())
        fresh = {**template, "event_id": event_id, "occurrence_id": str(uuid.uuid4())}
        return event_id, json.dumps(fresh).encode()


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    path: str,
    *,
    client: Client,
    factory: EventFactory,
    window: tuple[float, float],
    tally: Tally,
) -> None:
    start, end = window
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {client.api_key}\r\nContent-Type: application/json\r\n"
    ).encode()
    accepted = tally.accepted.setdefault(client.tenant, [])
    try:
        while (sent_at := time.perf_counter()) < end:
            event_id, body = factory.body()
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            status = await _read_answer(reader)
            if status == 202:
                accepted.append(event_id)  # every accepted event, to follow it to the end
            if sent_at >= start:
                tally.latencies.append(time.perf_counter() - sent_at)
                tally.statuses[status] = tally.statuses.get(status, 0) + 1
    finally:
        writer.close()
        await writer.wait_closed()


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


async def generate(
    url: str, clients: list[Client], *, connections: int, warmup: float, seconds: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/v1/events"
    factories = {
        c.tenant: EventFactory(c.municipality_number, seed) for seed, c in enumerate(clients)
    }
    now = time.perf_counter()
    window = (now + warmup, now + warmup + seconds)
    tally = Tally()
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                path,
                client=client,
                factory=factories[client.tenant],
                window=window,
                tally=tally,
            )
            for client in (clients[i % len(clients)] for i in range(connections))
        )
    )
    latencies = sorted(tally.latencies)
    ok = tally.statuses.get(202, 0)
    return {
        "url": url,
        "connections": connections,
        "warmup_seconds": warmup,
        "seconds": seconds,
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "accepted_per_second": ok / seconds,
        "latency_ms": {
            "p50": percentile(latencies, 0.50) * 1000,
            "p90": percentile(latencies, 0.90) * 1000,
            "p99": percentile(latencies, 0.99) * 1000,
            "max": (latencies[-1] if latencies else float("nan")) * 1000,
        },
        "accepted_event_ids": tally.accepted,
        "cpu_seconds": round(time.process_time(), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="http://host:port/v1/events")
    parser.add_argument("--clients", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    clients = [Client(**c) for c in json.loads(args.clients.read_text())]
    result = asyncio.run(
        generate(
            args.url,
            clients,
            connections=args.connections,
            warmup=args.warmup,
            seconds=args.seconds,
        )
    )
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
