"""The chaos run: ``python -m bench.chaos [--schedule small|full] [--events N] [--seconds S]
[--seed N]`` from the repository root (``make chaos``: the full schedule).

1. Starts the gateway as ``kprgw local up`` does (every service and the simulator its own
   process on the local RabbitMQ and Redis, each under a keeper that restarts it with backoff
   when it ends, as a Deployment would), with ``CHAOS_SETTINGS``.
2. Posts a sustained load of valid events for two tenants (``load.py``: bounded by a count
   and a time limit, 503 and connection failures retried with the same event ids) while the
   schedule's faults happen (``schedule.py``, ``inject.py``).
3. Waits until every accepted event is final (bounded), then checks the invariants
   (``invariants.py``), prints the table, writes ``bench/results/chaos.json`` and stops the
   gateway. Exit code 0 when nothing was lost, nothing duplicated without a send attempt or a
   resend to explain it, every chain whole, and every fault recovered; else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aio_pika
import httpx
from aio_pika.exceptions import AMQPError
from redis.asyncio import Redis

from bench import batches
from bench.chaos import schedule as schedules
from bench.chaos import simulator
from bench.chaos.inject import Chaos
from bench.chaos.invariants import judge, read_ledger
from bench.chaos.load import post_paced
from bench.chaos.report import print_report
from bench.ledger_watch import LedgerWatch
from kpr_gateway.cli.demo.world import MUNICIPALITIES
from kpr_gateway.cli.local_processes import (
    PROCESSES,
    SIMULATOR,
    LocalRun,
    Tuning,
    allocate_ports,
    new_prefix,
    queue_depths,
    start_run,
    stop_run,
)
from kpr_gateway.ledger import KeySpace
from kpr_gateway.pipeline import PARK_REASON_HEADER
from kpr_gateway.pipeline.queues import PARKED_SUFFIX

RESULTS: Final = Path(__file__).resolve().parent.parent / "results" / "chaos.json"
CHAOS_SETTINGS: Final[dict[str, str]] = {
    # One EPJ client per tenant sends everything: the per-client limit would answer 429.
    "KPRGW_INTAKE_RATE_LIMIT_PER_SECOND": "1000000",
    # Many small messages (a few a second), so that every fault meets messages in flight.
    "KPRGW_TRANSFORM_MAX_BATCH_EVENTS": "500",
    "KPRGW_TRANSFORM_MAX_BATCH_AGE_SECONDS": "1.0",
    # The silent simulator's messages become overdue within the run.
    "KPRGW_RECEIPTS_APPREC_DEADLINE": "20",
    "KPRGW_RECEIPTS_OVERDUE_SWEEP_SECONDS": "2",
    "KPRGW_SIMULATOR_FAULT_CONTROL": "true",
}


@dataclass(frozen=True)
class Options:
    schedule: str
    events: int
    seconds: float
    seed: int
    batch_size: int = 25
    settle_seconds: float = 240.0
    """How long to wait for every accepted event to be final after the load and the faults."""
    out: Path = RESULTS
    run_dir: Path | None = None
    """The run's folder (world, keepers' files, logs); default a new temporary one."""


QUIET_SECONDS: Final = 60.0
DEFAULTS: Final = {"small": (3000, 60.0), "full": (20000, 300.0)}


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--schedule", choices=sorted(DEFAULTS), default="full")
    parser.add_argument("--events", type=int, help="events posted in all (small 3000, full 20000)")
    parser.add_argument("--seconds", type=float, help="the load's time limit (small 60, full 300)")
    parser.add_argument("--seed", type=int, default=2026, help="the schedule's moments and picks")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--settle-seconds", type=float, default=240.0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results' JSON file")
    parser.add_argument("--dir", type=Path, help="the run's folder (default: a temporary one)")
    args = parser.parse_args(argv)
    events, seconds = DEFAULTS[args.schedule]
    return Options(
        args.schedule,
        args.events or events,
        args.seconds or seconds,
        args.seed,
        args.batch_size,
        args.settle_seconds,
        args.out,
        args.dir,
    )


async def run(options: Options) -> dict[str, Any]:
    """The whole run; its result (``result["verdict"]["passed"]``)."""
    run_dir = options.run_dir or Path(tempfile.mkdtemp(prefix="kprgw-chaos-"))
    plan = schedules.build(options.schedule, load_seconds=options.seconds, seed=options.seed)
    tuning = Tuning(log_level="INFO", log_json=True, tracing="off", settings=CHAOS_SETTINGS)
    gateway = await start_run(
        run_dir, ports=allocate_ports(0), tuning=tuning, prefix=new_prefix("chaos"), restart=True
    )
    redis = Redis.from_url(gateway.servers.redis_url)
    try:
        result = await _under_chaos(gateway, redis, plan, options)
        result["restarts"] = _restarts(gateway)
        result["parked"] = await _parked(gateway)
    finally:
        await redis.aclose()
        # The run is disposable: parked messages are counted above, then go with the queues.
        report = await stop_run(gateway, discard_parked=True)
    result["exit_codes_at_stop"] = report.exit_codes
    result["run_dir"] = str(run_dir)
    return result


async def _under_chaos(
    gateway: LocalRun, redis: Redis, plan: list[schedules.PlannedFault], options: Options
) -> dict[str, Any]:
    tenants = {
        m.tenant_id: (gateway.api_keys[m.tenant_id], m.municipality_number) for m in MUNICIPALITIES
    }
    prepared = batches.prepare(
        tenants, total=options.events, batch_size=options.batch_size, seed=options.seed
    )
    chaos = Chaos(gateway, redis)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    load_task = asyncio.create_task(
        post_paced(gateway.intake_url, prepared, seconds=options.seconds)
    )
    injected = await chaos.run_schedule(plan, load_started=started)
    load = await load_task
    load_done = time.monotonic()
    watch = LedgerWatch(redis, KeySpace(gateway.prefix), load.accepted)
    settled = await _settle(gateway, watch, options.settle_seconds)
    settle_seconds = time.monotonic() - load_done
    received = await _received(gateway)
    async with httpx.AsyncClient(timeout=30) as client:
        counters = await simulator.counters(client, gateway)
    view = await read_ledger(redis, gateway.prefix, load.accepted, received.get("messages", {}))
    verdict = judge(load.accepted, view, received, injected)
    return {
        "command": _command(options),
        "when": started_at.isoformat(timespec="seconds"),
        "options": asdict(options),
        "settings": CHAOS_SETTINGS,
        "schedule": [fault.to_json() for fault in plan],
        "load": load.to_json(),
        "settled": settled,
        "settle_seconds": round(settle_seconds, 1),
        "injected": [item.to_json() for item in injected],
        "simulator_received": {
            "messages": len(received.get("messages", {})),
            "receptions": sum(received.get("messages", {}).values()),
            "notifications": received.get("notifications", 0),
            "unread": received.get("unread", 0),
            "counters": counters,
        },
        "verdict": verdict.to_json(),
    }


async def _settle(gateway: LocalRun, watch: LedgerWatch, seconds: float) -> bool:
    """Poll until every accepted event is final; False when ``seconds`` ran out, or earlier
    once the run is quiet: nothing changed for ``QUIET_SECONDS`` and no message waits in any
    of its queues (what is not final then stays so; an overdue sweep or a held answer is
    due well within that time)."""
    deadline = time.monotonic() + seconds
    last, changed = watch.progress(), time.monotonic()
    while not await watch.poll():
        now = time.monotonic()
        if now > deadline:
            return False
        if watch.progress() != last:
            last, changed = watch.progress(), now
        elif now - changed > QUIET_SECONDS and await _queues_empty(gateway):
            return False
        await asyncio.sleep(1.0)
    return True


async def _queues_empty(gateway: LocalRun) -> bool:
    queues = [q for q in gateway.internal_queues if not q.endswith(PARKED_SUFFIX)]
    depths = await queue_depths(gateway.servers.rabbitmq_url, queues + gateway.nhn_queues)
    return not any(depths.values())


async def _received(gateway: LocalRun) -> dict[str, Any]:
    url = f"http://127.0.0.1:{gateway.processes[SIMULATOR].port}/received"
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.get(url)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body


async def _parked(gateway: LocalRun) -> dict[str, dict[str, int]]:
    """Per parking queue, its messages by ``x-park-reason`` (read off the queue: the run's
    queues are deleted next anyway)."""
    names = [q for q in gateway.internal_queues if q.endswith(PARKED_SUFFIX)]
    found: dict[str, dict[str, int]] = {}
    connection = await aio_pika.connect(gateway.servers.rabbitmq_url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except AMQPError:
                continue  # gone (the failed passive declare closed the channel)
            reasons: Counter[str] = Counter()
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                reason = (message.headers or {}).get(PARK_REASON_HEADER, "unknown")
                reasons[reason.decode() if isinstance(reason, bytes) else str(reason)] += 1
            await channel.close()
            if reasons:
                found[name.removeprefix(f"{gateway.prefix}.")] = dict(reasons)
    return found


def _restarts(gateway: LocalRun) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in PROCESSES:
        restarts = gateway.processes[name].restarts()
        found[name] = {
            "count": len(restarts),
            "exit_codes": [r.exit_code for r in restarts],
            "backoff_seconds": [r.backoff_seconds for r in restarts],
        }
    return found


def _command(options: Options) -> str:
    words = ["uv", "run", "--no-sync", "python", "-m", "bench.chaos"]
    words += ["--schedule", options.schedule, "--events", str(options.events)]
    words += ["--seconds", f"{options.seconds:g}", "--seed", str(options.seed)]
    return shlex.join(words)


def write_results(result: Mapping[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    print(
        f"KPR Gateway chaos run ({options.schedule}): {options.events:,} events over "
        f"{options.seconds:g} s, seed {options.seed}",
        flush=True,
    )
    result = asyncio.run(run(options))
    write_results(result, options.out)
    print_report(result)
    print(f"written to {options.out}; logs in {result['run_dir']}/logs")
    sys.exit(0 if result["verdict"]["passed"] else 1)
