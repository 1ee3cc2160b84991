"""``kprgw local up|down|status``: the gateway as separate processes on the local servers.

Every service and the KPR simulator run as their own detached processes on the local RabbitMQ
(AMQP 0-9-1 inside, AMQP 1.0 towards the simulator, as towards NHN) and Redis, as they would
in a cluster; ``up`` leaves them running (a process that crashes is restarted with backoff, as
a Deployment would), ``down`` drains and stops them and deletes the run's queues and Redis
keys. Everything of a run lives in one directory (``.run/`` by default).
"""

from __future__ import annotations

import asyncio
import json
import random
import shlex
from pathlib import Path
from typing import Annotated

import httpx
import typer
from aio_pika.exceptions import AMQPError
from rich.console import Console
from rich.table import Table

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import MUNICIPALITIES
from kpr_gateway.cli.local_processes import (
    KeptProcess,
    LocalRun,
    LocalRunError,
    Tuning,
    allocate_ports,
    is_ready,
    memory_kib,
    queue_depths,
    start_run,
    stop_run,
)
from kpr_gateway.cli.output import fail

app = typer.Typer(
    no_args_is_help=True,
    help="Every service and the simulator as separate processes on the local RabbitMQ and Redis.",
)

EXIT_NOT_READY = 3

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="The run's directory (default: .run/ at the repository root)."),
]


def default_dir() -> Path:
    """``.run/`` beside the nearest ``uv.lock`` above the working directory (the repository
    root when run from inside it), else in the working directory."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "uv.lock").is_file():
            return folder / ".run"
    return here / ".run"


def _settings(pairs: list[str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.startswith("KPRGW_"):
            raise typer.BadParameter(f"{pair!r} is not KPRGW_<SERVICE>_<SETTING>=VALUE")
        settings[name] = value
    return settings


@app.command()
def up(
    *,
    directory: DirOption = None,
    port_base: Annotated[
        int,
        typer.Option(
            min=0,
            max=65530,
            help="intake listens here, transform, envelope, dispatch, receipts and the "
            "simulator on the next five ports; 0 takes any free ports.",
        ),
    ] = 8080,
    log_level: Annotated[str, typer.Option(help="Log level of every process.")] = "INFO",
    json_logs: Annotated[bool, typer.Option(help="JSON log lines instead of text.")] = False,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A service setting as its variable, e.g. "
            "KPRGW_TRANSFORM_MAX_BATCH_EVENTS=5000 (repeatable).",
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            help="Restart a process that ends on its own, with backoff (0.5 s doubling to "
            "10 s), as a Deployment would; --no-restart leaves it down."
        ),
    ] = True,
) -> None:
    """Start every service and the simulator, wait until all are ready, print how to call."""
    run_dir = (directory or default_dir()).resolve()
    tuning = Tuning(
        log_level=log_level.upper(), log_json=json_logs, settings=_settings(setting or [])
    )
    console = Console()
    try:
        ports = allocate_ports(port_base)
        console.print(f"starting the gateway in {run_dir} ...")
        run = asyncio.run(start_run(run_dir, ports=ports, tuning=tuning, restart=restart))
    except LocalRunError as exc:
        fail(exc)
    console.print(_process_table(run, ready=dict.fromkeys(run.processes, True)))
    console.print(f"\nintake API: {run.intake_url}  (OpenAPI: {run.intake_url}/docs)")
    console.print(f"logs: {run_dir / 'logs'}   state: {run.state_file}")
    _print_curl(console, run)
    console.print(
        "\nstop with: kprgw local down" + ("" if directory is None else f" --dir {run_dir}")
    )


@app.command()
def down(
    directory: DirOption = None,
    discard_parked: Annotated[
        bool,
        typer.Option(
            "--discard-parked", help="Delete the run's queues even with parked messages in them."
        ),
    ] = False,
) -> None:
    """Stop every process (SIGTERM; each drains), report exit codes, delete the run's queues
    and Redis keys. Exits 1 if a process did not exit with 0, or if parked messages wait
    (then nothing is deleted: read them, then --discard-parked)."""
    run_dir = (directory or default_dir()).resolve()
    try:
        run = LocalRun.load(run_dir)
        if run is None:
            typer.echo(f"no local run in {run_dir}")
            return
        report = asyncio.run(stop_run(run, discard_parked=discard_parked))
    except LocalRunError as exc:
        fail(exc)
    table = Table(title="stopped")
    table.add_column("process")
    table.add_column("exit code", justify="right")
    for name, code in report.exit_codes.items():
        table.add_row(name, "killed (no clean exit in time)" if code is None else str(code))
    console = Console()
    console.print(table)
    discarded = report.parked_discarded
    console.print(
        f"deleted {report.queues_deleted} queues and {report.keys_deleted} Redis keys "
        f"of run {run.prefix}" + (f", discarding {discarded} parked messages" if discarded else "")
    )
    if not report.clean:
        raise typer.Exit(1)


@app.command()
def status(directory: DirOption = None) -> None:
    """Each process (running, ready, restarts, memory) and the internal queues' depths.
    Exits 3 when a process is not ready, 1 when nothing runs here."""
    run_dir = (directory or default_dir()).resolve()
    try:
        run = LocalRun.load(run_dir)
    except LocalRunError as exc:
        fail(exc)
    if run is None:
        fail(f"no local run in {run_dir} (kprgw local up)")
    ready = asyncio.run(_readiness(run))
    console = Console()
    console.print(_process_table(run, ready))
    console.print(f"intake API: {run.intake_url}   run {run.prefix} since {run.started_at}")
    try:
        depths = asyncio.run(queue_depths(run.servers.rabbitmq_url, _watched_queues(run)))
    except (AMQPError, OSError):
        console.print("RabbitMQ does not answer: no queue depths")
    else:
        queues = Table(title="queues (messages waiting)")
        queues.add_column("queue")
        queues.add_column("waiting", justify="right")
        for name, depth in depths.items():
            queues.add_row(name, "missing" if depth is None else str(depth))
        console.print(queues)
    if not all(ready.values()):
        raise typer.Exit(EXIT_NOT_READY)


async def _readiness(run: LocalRun) -> dict[str, bool]:
    async with httpx.AsyncClient() as client:
        return {name: await is_ready(client, p.port) for name, p in run.processes.items()}


def _watched_queues(run: LocalRun) -> list[str]:
    """The work and parking queues (retry queues hold only what waits for its backoff)."""
    return [q for q in run.internal_queues if ".retry." not in q] + run.nhn_queues


def _process_table(run: LocalRun, ready: dict[str, bool]) -> Table:
    table = Table(title=f"KPR Gateway processes ({run.prefix})")
    columns = ("process", "pid", "port", "running", "ready", "restarts", "RSS MiB", "peak MiB")
    for column in columns:
        table.add_column(column, justify="left" if column == "process" else "right")
    for name, process in run.processes.items():
        pid = process.current_pid()
        memory = memory_kib(pid) if pid is not None else {}
        restarts = process.restarts()
        table.add_row(
            name,
            "-" if pid is None else str(pid),
            str(process.port),
            _running(process),
            "yes" if ready.get(name) else "no",
            f"{len(restarts)} (last exit {restarts[-1].exit_code})" if restarts else "0",
            f"{memory['VmRSS'] / 1024:.0f}" if "VmRSS" in memory else "-",
            f"{memory['VmHWM'] / 1024:.0f}" if "VmHWM" in memory else "-",
        )
    return table


def _running(process: KeptProcess) -> str:
    if process.service_running():
        return "yes"
    # The keeper waits out its backoff before the next start.
    return "restarting" if process.keeper_running() else "no"


def _print_curl(console: Console, run: LocalRun) -> None:
    rng = random.Random()  # noqa: S311 - sample data, not secrets
    municipality = next(m for m in MUNICIPALITIES if m.tenant_id in run.api_keys)
    example = event(rng, municipality.municipality_number)
    auth = shlex.quote(f"Authorization: Bearer {run.api_keys[municipality.tenant_id]}")
    console.print(f"\nsubmit an event for {municipality.name}, then read its status:")
    console.print(
        f"curl -sS -X POST {run.intake_url}/v1/events -H {auth} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(example))}",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"curl -sS {run.intake_url}/v1/events/{example['event_id']} -H {auth}",
        soft_wrap=True,
        highlight=False,
    )
