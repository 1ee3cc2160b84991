"""The demo's annual round: each sample municipality submits its year (IPLOS 3.7 and the
identity file) through ``POST /v1/annual-submissions``, as an EPJ would, and the demo
follows both messages until the simulator's AppRecs are in.

The pairs are written the way ``examples/annual`` was (``kprgw annual sample``: 40 fictional
persons, seed = the municipality number, year 2025) into the demo's folder, from the demo's
own tenants, so the round also runs from an installed ``kprgw`` without the repository.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kpr_gateway.annual.synthetic import ExtractFiles, write_tenant_extract
from kpr_gateway.cli.demo.world import DemoWorld
from kpr_gateway.ledger.states import FINAL_MESSAGE_STATES
from kpr_gateway.reference import load_municipalities
from kpr_gateway.tenancy import load_tenants

ANNUAL_YEAR: Final = 2025
ANNUAL_PERSONS: Final = 40
SETTLED_MESSAGE_STATES: Final = frozenset(state.value for state in FINAL_MESSAGE_STATES)
"""A message in one of these has its outcome: no more AppRec will come for it."""
REFUSED: Final = "refused"


@dataclass(frozen=True)
class AnnualOutcome:
    """One tenant's submission as the API last showed it."""

    tenant_id: str
    status: dict[str, Any]

    @property
    def settled(self) -> bool:
        if self.status["status"] == REFUSED:
            return True
        messages = self.status["messages"]
        return bool(messages) and all(m["state"] in SETTLED_MESSAGE_STATES for m in messages)


def write_annual_samples(world: DemoWorld, directory: Path) -> dict[str, ExtractFiles]:
    """Each demo tenant's clean pair for ``ANNUAL_YEAR`` in ``directory``."""
    tenants = load_tenants(world.tenants_file)
    table = load_municipalities()
    return {
        municipality.tenant_id: write_tenant_extract(
            directory,
            tenant=tenants.by_id(municipality.tenant_id),
            year=ANNUAL_YEAR,
            persons=ANNUAL_PERSONS,
            seed=int(municipality.municipality_number),
            table=table,
        )
        for municipality in world.municipalities
    }


async def annual_round(
    client: httpx.AsyncClient,
    world: DemoWorld,
    console: Console,
    *,
    timeout: float = 120.0,
    interval: float = 0.25,
) -> list[AnnualOutcome]:
    """Submit every tenant's pair, follow them until both AppRecs are in (or the
    submission is refused), print a summary; the outcomes as last read."""
    files = write_annual_samples(world, world.directory / "annual")
    locations: dict[str, str] = {}
    for tenant_id, pair in files.items():
        answer = await client.post(
            "/v1/annual-submissions",
            files={
                "iplos": (pair.iplos.name, pair.iplos.read_bytes(), "application/xml"),
                "ident": (pair.ident.name, pair.ident.read_bytes(), "application/xml"),
            },
            data={"year": str(ANNUAL_YEAR)},
            headers=_auth(world, tenant_id),
        )
        if answer.status_code != 201:
            raise RuntimeError(
                f"{tenant_id}: the annual submission was answered {answer.status_code}: "
                f"{answer.text[:300]}"
            )
        locations[tenant_id] = answer.headers["location"]
    outcomes: list[AnnualOutcome] = []
    console.print()
    with Live(console=console, refresh_per_second=4) as live:
        async with asyncio.timeout(timeout):
            while True:
                outcomes = [
                    AnnualOutcome(tenant_id, await _read(client, world, tenant_id, location))
                    for tenant_id, location in locations.items()
                ]
                live.update(_table(outcomes))
                if all(outcome.settled for outcome in outcomes):
                    break
                await asyncio.sleep(interval)
    console.print()
    for outcome in outcomes:
        console.print(summary_line(outcome), highlight=False)
    return outcomes


async def _read(
    client: httpx.AsyncClient, world: DemoWorld, tenant_id: str, location: str
) -> dict[str, Any]:
    answer = await client.get(location, headers=_auth(world, tenant_id))
    answer.raise_for_status()
    status: dict[str, Any] = answer.json()
    return status


def _auth(world: DemoWorld, tenant_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.api_keys[tenant_id]}"}


def _table(outcomes: list[AnnualOutcome]) -> Table:
    table = Table(title=f"Annual submissions ({ANNUAL_YEAR}, IPLOS 3.7)")
    for column in ("tenant", "persons", "submission", "KPR_IPL", "KPR_IDE"):
        table.add_column(column)
    for outcome in outcomes:
        states = {m["msg_type"]: m["state"] for m in outcome.status["messages"]}
        table.add_row(
            outcome.tenant_id,
            str(outcome.status["persons"]),
            outcome.status["status"],
            states.get("KPR_IPL", "-"),
            states.get("KPR_IDE", "-"),
        )
    return table


def summary_line(outcome: AnnualOutcome) -> str:
    """``tenant: submission <id> <status>; KPR_IPL <state> (AppRec <code>), KPR_IDE ...``."""
    status = outcome.status
    messages = []
    for message in status["messages"]:
        receipt = message.get("receipt") or {}
        codes = ", ".join(str(e["code"]) for e in receipt.get("errors", []))
        answered = f" (AppRec {receipt['status_code']}" if receipt.get("status_code") else ""
        if answered:
            answered += f": {codes})" if codes else ")"
        messages.append(f"{message['msg_type']} {message['state']}{answered}")
    line = f"{outcome.tenant_id}: submission {status['submission_id']} {status['status']}"
    if status["status"] == REFUSED:
        rules = ", ".join(f["rule"] for f in status["report"]["findings"])
        return f"{line} ({status.get('refusal_reason') or rules})"
    return f"{line}; " + ", ".join(messages)
