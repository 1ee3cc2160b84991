"""The benchmark run: ``python -m bench [options]`` from the repository root.

1. Starts the gateway as ``kprgw local up`` does (every service and the simulator as its own
   process on the local RabbitMQ and Redis), tuned for throughput (``BENCH_SETTINGS``), and
   the baseline endpoint (bench/baseline.py) as a process of its own.
2. Single events: the load generator (its own process) against the baseline, then against
   intake, for the same time with the same connections; accepted per second and latency.
3. End to end: N events posted in batches, timed from the first POST until the ledger shows
   every KPR message acknowledged.
4. Prints a table with the command, writes bench/results/latest.json, stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

from bench import annual, batches
from bench.ledger_watch import LedgerWatch
from bench.procstat import REST, CpuMeter, gateway_pids, peak_memory_mib, server_pids
from bench.profiling import PROFILES, Profiler, hotspots, py_spy
from kpr_gateway.cli.demo.world import MUNICIPALITIES
from kpr_gateway.cli.local_processes import (
    LocalRun,
    Tuning,
    allocate_ports,
    delete_queues,
    free_port,
    new_prefix,
    start_run,
    stop_run,
)
from kpr_gateway.ledger import KeySpace

RESULTS = Path(__file__).parent / "results" / "latest.json"
BENCH_SETTINGS: dict[str, str] = {
    # One EPJ client per tenant sends everything here: the per-client limit would answer 429.
    "KPRGW_INTAKE_RATE_LIMIT_PER_SECOND": "1000000",
    # One internal message per 5,000-event POST; batches of 5,000 (KPR messages are capped at
    # 1 MB, ~1,500 notifications, whatever the batch) with at most 10,000 events held in
    # transform: every service stays under 250 MiB (20,000 held / 10,000 batches: transform
    # 282 MiB at about the same rate).
    "KPRGW_INTAKE_CHUNK_EVENTS": "5000",
    "KPRGW_TRANSFORM_MAX_BATCH_EVENTS": "5000",
    "KPRGW_TRANSFORM_MAX_EVENTS_HELD": "10000",
    "KPRGW_TRANSFORM_MAX_BATCH_AGE_SECONDS": "1.0",
    # transform holds a chunk until its batch is sent, so it batches at most `prefetch` chunks
    # per max age: at the default 64, single-event POSTs pass transform at ~64 events/s.
    "KPRGW_TRANSFORM_PREFETCH": "1000",
    "KPRGW_ENVELOPE_PREFETCH": "16",
    "KPRGW_DISPATCH_PREFETCH": "16",
    "KPRGW_RECEIPTS_CREDIT": "20",
    "KPRGW_SIMULATOR_CREDIT": "20",
}
GOAL_RATIO = 0.5
GOAL_EVENTS_PER_SECOND = 5000


@dataclass(frozen=True)
class Options:
    seconds: float
    warmup: float
    connections: int
    events: int
    batch_size: int
    concurrency: int
    settings: dict[str, str]
    profile: bool
    annual_persons: int = annual.DEFAULT_PERSONS
    """0: no annual figure (bench/annual.py)."""


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured single-event time")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32, help="load generator clients")
    parser.add_argument("--events", type=int, default=100_000, help="end-to-end events")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4, help="batch POSTs in flight")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KPRGW_X=V",
        help="override a service setting for this run (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample every service with py-spy during the intake and end-to-end parts",
    )
    annual.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = dict(BENCH_SETTINGS)
    for pair in args.set:
        name, _, value = pair.partition("=")
        settings[name] = value
    return Options(
        args.seconds,
        args.warmup,
        args.connections,
        args.events,
        args.batch_size,
        args.concurrency,
        settings,
        args.profile,
        annual.persons_from(args),
    )


async def _load(url: str, clients_file: Path, out: Path, options: Options) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--clients",
        str(clients_file),
        "--connections",
        str(options.connections),
        "--warmup",
        str(options.warmup),
        "--seconds",
        str(options.seconds),
        "--out",
        str(out),
    )
    if await process.wait() != 0:
        raise RuntimeError(f"the load generator failed against {url}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def _start_baseline(run_dir: Path, queue: str) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    log = (run_dir / "logs" / "baseline.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.baseline",
        "--port",
        str(port),
        "--queue",
        queue,
        stdout=log,
        stderr=log,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return process, port
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    raise RuntimeError(f"the baseline did not start (see {run_dir / 'logs' / 'baseline.log'})")


def _summary(load: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in load.items() if k != "accepted_event_ids"}


async def run(options: Options) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="kprgw-bench-"))
    tuning = Tuning(log_level="WARNING", log_json=True, tracing="off", settings=options.settings)
    # No restarts: a process that crashed would be measured as its fresh successor.
    gateway = await start_run(
        run_dir, ports=allocate_ports(0), tuning=tuning, prefix=new_prefix("bench"), restart=False
    )
    try:
        result = await _with_baseline(gateway, run_dir, options)
    finally:
        report = await stop_run(gateway)
        if not report.clean:
            print(f"warning: exit codes {report.exit_codes}", file=sys.stderr)
    if options.annual_persons:
        result["annual"] = await annual.measure(
            run_dir / "annual", tuning, persons=options.annual_persons, profile=options.profile
        )
    return result


async def _with_baseline(gateway: LocalRun, run_dir: Path, options: Options) -> dict[str, Any]:
    baseline_queue = f"{gateway.prefix}.baseline"
    baseline, baseline_port = await _start_baseline(run_dir, baseline_queue)
    redis = Redis.from_url(gateway.servers.redis_url)
    try:
        return await _measure(
            gateway,
            baseline_pid=baseline.pid,
            baseline_port=baseline_port,
            redis=redis,
            run_dir=run_dir,
            options=options,
        )
    finally:
        await redis.aclose()
        baseline.send_signal(signal.SIGTERM)
        await baseline.wait()
        await delete_queues(gateway.servers.rabbitmq_url, [baseline_queue])


async def _measure(
    gateway: LocalRun,
    *,
    baseline_pid: int,
    baseline_port: int,
    redis: Redis,
    run_dir: Path,
    options: Options,
) -> dict[str, Any]:
    clients = [
        {
            "tenant": m.tenant_id,
            "api_key": gateway.api_keys[m.tenant_id],
            "municipality_number": m.municipality_number,
        }
        for m in MUNICIPALITIES
    ]
    clients_file = run_dir / "clients.json"
    clients_file.write_text(json.dumps(clients))
    pids = gateway_pids(gateway)
    groups = {name: [pid] for name, pid in pids.items()}
    groups |= {"baseline": [baseline_pid], **server_pids()}
    meter = CpuMeter(groups)
    keys = KeySpace(gateway.prefix)
    profiler = _profiler(pids, options)

    meter.start()
    base = await _load(
        f"http://127.0.0.1:{baseline_port}/v1/events", clients_file, run_dir / "b.json", options
    )
    base_cpu = meter.stop()

    meter.start()
    if profiler:
        profiler.start("single")
    intake = await _load(
        f"{gateway.intake_url}/v1/events", clients_file, run_dir / "i.json", options
    )
    intake_cpu = meter.stop()
    if profiler:
        profiler.stop()
    drained = time.perf_counter()
    singles = await LedgerWatch(redis, keys, intake["accepted_event_ids"]).wait(timeout=600)
    drain_seconds = time.perf_counter() - drained

    tenants = {c["tenant"]: (c["api_key"], c["municipality_number"]) for c in clients}
    prepared = batches.prepare(tenants, total=options.events, batch_size=options.batch_size)
    watch = LedgerWatch(
        redis,
        keys,
        {t: [e for b in prepared if b.tenant == t for e in b.event_ids] for t in tenants},
    )
    meter.start()
    if profiler:
        profiler.start("e2e")
    first_post = datetime.now(UTC)
    posted = await batches.post_all(gateway.intake_url, prepared, concurrency=options.concurrency)
    settled = await watch.wait(timeout=1800, interval=0.5)
    e2e_cpu = meter.stop()
    if profiler:
        profiler.stop()
    last = settled.last_transition or datetime.now(UTC)
    e2e_seconds = (last - first_post).total_seconds()

    ratio = intake["accepted_per_second"] / base["accepted_per_second"]
    gateway_names = list(gateway.processes)
    e2e_gateway_cpu = sum(e2e_cpu[name] for name in gateway_names)
    return {
        "command": ("uv run --no-sync python -m bench " + shlex.join(sys.argv[1:])).strip(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "options": asdict(options),
        "single_event": {
            "baseline": _summary(base),
            "intake": _summary(intake),
            "ratio": round(ratio, 3),
            "goal_ratio": GOAL_RATIO,
            "cpu_seconds": {"baseline_run": base_cpu, "intake_run": intake_cpu},
            # Varies less with the machine's other load than the rates do.
            "cpu_ms_per_request": {
                "baseline": _per(base_cpu["baseline"], base["requests"]),
                "intake": _per(intake_cpu["intake"], intake["requests"]),
            },
            "pipeline_after": {
                "messages": dict(singles.messages),
                "events_per_message": round(singles.events_per_message, 1),
                "drain_seconds": round(drain_seconds, 1),
            },
        },
        "end_to_end": {
            "events": options.events,
            "accepted": posted.accepted,
            "refused": posted.refused,
            "batch_size": options.batch_size,
            "posting_seconds": round(posted.seconds, 2),
            "seconds": round(e2e_seconds, 2),
            "events_per_second": round(options.events / e2e_seconds),
            "goal_events_per_second": GOAL_EVENTS_PER_SECOND,
            "messages": dict(settled.messages),
            "events_per_message": round(settled.events_per_message, 1),
            "events_without_message": dict(settled.events_without_message),
            "cpu_seconds": e2e_cpu,
            "cpu_ms_per_event": {
                **{name: _per(e2e_cpu[name], options.events) for name in e2e_cpu},
                "all services and the simulator": _per(e2e_gateway_cpu, options.events),
            },
        },
        "peak_memory_mib": peak_memory_mib(pids),
        "profiles": _profiles(gateway) if profiler else {},
    }


def _per(seconds: float, count: int) -> float:
    return round(1000 * seconds / count, 3) if count else 0.0


def _profiler(pids: dict[str, int], options: Options) -> Profiler | None:
    if not options.profile:
        return None
    executable = py_spy()
    if executable is None:
        raise SystemExit("--profile needs py-spy: uv tool install py-spy")
    return Profiler(executable, pids)


def _profiles(gateway: LocalRun) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in ("single", "e2e"):
        for name in gateway.processes:
            path = PROFILES / f"{part}-{name}.txt"
            if path.is_file():
                spots = hotspots(path)
                found.setdefault(part, {})[name] = {
                    "file": str(path),
                    "samples": spots.samples,
                    "own": spots.own,
                    "inclusive": spots.inclusive,
                    "project": spots.project,
                }
    return found


def _machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def print_report(result: dict[str, Any], console: Console) -> None:
    single, e2e = result["single_event"], result["end_to_end"]
    table = Table(title="KPR Gateway benchmark", caption=f"$ {result['command']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    for name in ("baseline", "intake"):
        load = single[name]
        latency = load["latency_ms"]
        label = "bare confirmed publish" if name == "baseline" else "gateway intake"
        table.add_row(
            f"POST /v1/events, {label} ({load['connections']} clients, {load['seconds']:.0f} s)",
            f"{load['accepted_per_second']:,.0f}/s  p50 {latency['p50']:.1f} ms  "
            f"p99 {latency['p99']:.1f} ms",
            "",
        )
    table.add_row("intake / baseline", f"{single['ratio']:.2f}", f">= {GOAL_RATIO}")
    per_request = single["cpu_ms_per_request"]
    table.add_row(
        "CPU per request, baseline / intake",
        f"{per_request['baseline']:.2f} ms / {per_request['intake']:.2f} ms",
        "",
    )
    table.add_row(
        f"end to end, {e2e['events']:,} events in batches of {e2e['batch_size']:,}",
        f"{e2e['events_per_second']:,}/s ({e2e['seconds']:.1f} s; posted in "
        f"{e2e['posting_seconds']:.1f} s)",
        f">= {GOAL_EVENTS_PER_SECOND:,}/s",
    )
    table.add_row("KPR messages (end to end)", json.dumps(e2e["messages"]), "")
    table.add_row(
        "CPU per event, services + simulator",
        f"{e2e['cpu_ms_per_event']['all services and the simulator']:.3f} ms",
        "",
    )
    for name, mib in result["peak_memory_mib"].items():
        table.add_row(f"peak RSS {name}", f"{mib:.0f} MiB", "")
    console.print(table)
    cpu = Table(title="CPU seconds per process during each part")
    cpu.add_column("process")
    parts = (
        ("baseline POSTs", single["cpu_seconds"]["baseline_run"]),
        ("intake POSTs", single["cpu_seconds"]["intake_run"]),
        ("end to end", e2e["cpu_seconds"]),
    )
    for title, _ in parts:
        cpu.add_column(title, justify="right")
    for process in parts[0][1]:
        label = f"{REST} (bench, others)" if process == REST else process
        cpu.add_row(label, *(f"{values.get(process, 0.0):.1f}" for _, values in parts))
    cpu.add_row(
        "  of which the load generator",
        f"{single['baseline']['cpu_seconds']:.1f}",
        f"{single['intake']['cpu_seconds']:.1f}",
        "-",
    )
    console.print(cpu)
    for part, services in result.get("profiles", {}).items():
        console.print(f"\n[bold]profile, {part}[/bold] (share of each service's samples)")
        for name, spots in services.items():
            own = "; ".join(f"{share}% {frame}" for share, frame in spots["own"][:4])
            steps = "; ".join(f"{share}% {frame}" for share, frame in spots["project"][:6])
            console.print(f"  {name} ({spots['samples']} samples)", highlight=False)
            console.print(f"    own time: {own}", highlight=False, soft_wrap=True)
            console.print(f"    gateway steps: {steps}", highlight=False, soft_wrap=True)
    if "annual" in result:
        annual.print_report(result["annual"], console)


def main(argv: list[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    console = Console()
    console.print("KPR Gateway benchmark: starting the gateway and the baseline ...")
    result = asyncio.run(run(options))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result, console)
    console.print(f"written to {RESULTS}")
