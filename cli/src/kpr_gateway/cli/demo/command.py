"""``kprgw demo``: run the whole gateway in one process against the built-in KPR simulator."""

from __future__ import annotations

import asyncio
import json
import random
import shlex
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kpr_gateway.cli.demo.annual import annual_round
from kpr_gateway.cli.demo.embedded import EmbeddedGateway
from kpr_gateway.cli.demo.samples import event, sample_set
from kpr_gateway.cli.demo.simulator import SimulatorOptions
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.ledger import Ledger
from kpr_gateway.observability import setup_logging

# What an EPJ sees once nothing more will happen to an event.
SETTLED = frozenset(
    {
        "acknowledged",
        "acknowledged_with_errors",
        "rejected",
        "transport_error",
        "overdue",
        "rejected_invalid",
        "suppressed_test_person",
        "not_reportable",
    }
)


def demo(
    *,
    host: Annotated[str, typer.Option(help="Address to serve the intake API on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the intake API.")] = 8080,
    sample: Annotated[bool, typer.Option(help="Post sample events and follow them.")] = True,
    events_per_tenant: Annotated[int, typer.Option(min=1)] = 20,
    annual: Annotated[
        bool,
        typer.Option(help="Submit each municipality's 2025 IPLOS 3.7 year and follow it."),
    ] = True,
    reject_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share the simulator rejects anyway.")
    ] = 0.0,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write the dev PKI and tenants file.")
    ] = None,
    exit_after_sample: Annotated[
        bool,
        typer.Option(help="Stop once the sample events and the annual round have their outcome."),
    ] = False,
) -> None:
    """Every service, an in-memory bus, in-process Redis and the KPR simulator, in one process."""
    setup_logging("kprgw-demo", "WARNING", json=False)
    base = directory or Path(tempfile.mkdtemp(prefix="kprgw-demo-"))
    console = Console()
    console.print(f"[bold]KPR Gateway demo[/bold]: dev PKI and tenants in {base}")
    world = create_world(base)
    options = SimulatorOptions(reject_share=reject_share)
    try:
        asyncio.run(
            _run(
                world,
                console,
                _RunOptions(
                    host, port, sample, events_per_tenant, options, exit_after_sample, annual
                ),
            )
        )
    except KeyboardInterrupt:
        console.print("stopped")


@dataclass(frozen=True)
class _RunOptions:
    host: str
    port: int
    sample: bool
    events_per_tenant: int
    simulator: SimulatorOptions
    exit_after_sample: bool
    annual: bool = True


async def _run(world: DemoWorld, console: Console, options: _RunOptions) -> None:
    gateway = EmbeddedGateway(
        world, host=options.host, port=options.port, simulator=options.simulator
    )
    gateway.drain.install()
    await gateway.start()
    base_url = f"http://{options.host}:{gateway.port}"
    console.print(f"intake API on {base_url} (OpenAPI: {base_url}/docs)")
    try:
        if options.sample:
            await _post_and_follow(gateway, world, console, base_url, options.events_per_tenant)
        if options.annual:
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
                await annual_round(client, world, console)
        _print_curl(world, console, base_url)
        if not options.exit_after_sample:
            console.print("serving; Ctrl-C to stop")
            await gateway.drain.wait()
    finally:
        await gateway.stop()
        gateway.drain.uninstall()


async def _post_and_follow(
    gateway: EmbeddedGateway,
    world: DemoWorld,
    console: Console,
    base_url: str,
    events_per_tenant: int,
) -> None:
    rng = random.Random(2026)  # noqa: S311 - sample data, not secrets
    followed: dict[str, list[str]] = {}
    refused: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for municipality in world.municipalities:
            events = sample_set(rng, municipality.municipality_number, events_per_tenant)
            response = await client.post(
                "/v1/events/batch",
                json=events,
                headers={"Authorization": f"Bearer {world.api_keys[municipality.tenant_id]}"},
            )
            response.raise_for_status()
            results = response.json()["results"]
            followed[municipality.tenant_id] = [
                r["event_id"] for r in results if r["status_code"] == 202
            ]
            refused[municipality.tenant_id] = sum(1 for r in results if r["status_code"] != 202)
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            counts = await _statuses(gateway.ledger, followed)
            live.update(_table(counts, refused))
            if all(set(c) <= SETTLED for c in counts.values()):
                break
            await asyncio.sleep(0.25)


async def _statuses(ledger: Ledger, followed: dict[str, list[str]]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for tenant_id, event_ids in followed.items():
        statuses: Counter[str] = Counter()
        for event_id in event_ids:
            record = await ledger.get_event(tenant_id, event_id)
            statuses[record.status if record else "unknown"] += 1
        counts[tenant_id] = statuses
    return counts


def _table(counts: dict[str, Counter[str]], refused: Counter[str]) -> Table:
    table = Table(title="Sample events by status")
    columns = sorted({status for c in counts.values() for status in c})
    table.add_column("tenant")
    table.add_column("refused at intake (422)")
    for column in columns:
        table.add_column(column)
    for tenant_id, statuses in counts.items():
        table.add_row(tenant_id, str(refused[tenant_id]), *(str(statuses[c]) for c in columns))
    return table


def _print_curl(world: DemoWorld, console: Console, base_url: str) -> None:
    rng = random.Random()  # noqa: S311 - sample data, not secrets
    console.print("\nTry it yourself (one municipality each):")
    for municipality in world.municipalities:
        example: dict[str, Any] = event(rng, municipality.municipality_number)
        command = (
            f"curl -sS -X POST {base_url}/v1/events "
            f"-H {shlex.quote('Authorization: Bearer ' + world.api_keys[municipality.tenant_id])} "
            f"-H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(example))}"
        )
        console.print(f"\n# {municipality.name}", style="bold")
        console.print(command, soft_wrap=True, highlight=False)
        console.print(
            f"curl -sS {base_url}/v1/events/{example['event_id']} "
            f"-H {shlex.quote('Authorization: Bearer ' + world.api_keys[municipality.tenant_id])}",
            soft_wrap=True,
            highlight=False,
        )
