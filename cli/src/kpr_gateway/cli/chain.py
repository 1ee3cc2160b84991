"""``kprgw chain verify``: walk a tenant's notification chains in the ledger.

Each municipality's chain must run 1, 2, 3, ... with every notification naming the one before
it (Guid.Empty for the first): the register reads a gap or a fork as lost data. Exit 0 when
every chain is whole (its length and head printed), 1 at the first problem (the sequence
number and what is wrong there), 2 on usage errors or when the ledger cannot be read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from redis.asyncio import Redis

from kpr_gateway.cli.output import fail
from kpr_gateway.ledger import (
    ChainReport,
    KeySpace,
    Ledger,
    LedgerError,
    redis_from_url,
)

app = typer.Typer(no_args_is_help=True, help="The notification chains the register checks.")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
EXIT_BROKEN = 1
EXIT_UNUSABLE = 2


@app.callback()
def _group() -> None:
    """The notification chains (notifikasjonLopeNr, notifikasjonForrigeGUID) per municipality."""


@app.command()
def verify(
    *,
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant id (as in the ledger).")],
    municipality: Annotated[
        str | None,
        typer.Option(
            "--municipality", help="Only this municipality's chain (4 digits).", show_default=False
        ),
    ] = None,
    redis_url: Annotated[
        str, typer.Option("--redis-url", envvar="KPRGW_REDIS_URL", help="The ledger's Redis.")
    ] = DEFAULT_REDIS_URL,
    key_prefix: Annotated[
        str,
        typer.Option(
            "--key-prefix", envvar="KPRGW_KEY_PREFIX", help="Prefix of the ledger's keys."
        ),
    ] = KeySpace().prefix,
    page: Annotated[
        int, typer.Option(min=1, max=100_000, help="Notifications read per round trip.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Check every chain of TENANT: length and head per municipality, or the first problem."""
    if municipality is not None and not (len(municipality) == 4 and municipality.isdigit()):
        fail("--municipality is a municipality number of 4 digits", code=EXIT_UNUSABLE)
    try:
        redis = redis_from_url(redis_url)
    except ValueError:
        fail("--redis-url: not a Redis URL (redis://host:port/db)", code=EXIT_UNUSABLE)
    try:
        reports = asyncio.run(_verify(redis, key_prefix, tenant, municipality, page))
    except LedgerError as exc:
        fail(f"the ledger cannot be read: {exc}", code=EXIT_UNUSABLE)
    broken = next((r for r in reports if not r.ok), None)
    if as_json:
        typer.echo(json.dumps(_as_json(tenant, reports)))
    else:
        _print(tenant, reports)
    if broken is not None:
        if not as_json:
            fail(
                f"the chain of municipality {broken.municipality} breaks at seq "
                f"{broken.problem_seq}: {broken.problem}",
                code=EXIT_BROKEN,
            )
        raise typer.Exit(EXIT_BROKEN)


async def _verify(
    redis: Redis, key_prefix: str, tenant: str, municipality: str | None, page: int
) -> list[ChainReport]:
    try:
        ledger = Ledger(redis, keys=KeySpace(key_prefix))
        if municipality is not None:
            municipalities = [municipality]
        else:
            municipalities = sorted(await ledger.chain_municipalities(tenant))
        return [await ledger.verify_chain(tenant, m, page=page) for m in municipalities]
    finally:
        await redis.aclose()


def _print(tenant: str, reports: list[ChainReport]) -> None:
    if not reports:
        typer.echo(f"tenant {tenant}: no chains (nothing numbered yet)")
    for report in reports:
        state = "ok" if report.ok else f"BROKEN at seq {report.problem_seq}: {report.problem}"
        typer.echo(
            f"{report.municipality}: length {report.length}, head seq {report.head.seq} "
            f"guid {report.head.guid}, {state}"
        )


def _as_json(tenant: str, reports: list[ChainReport]) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "ok": all(r.ok for r in reports),
        "chains": [
            {
                "municipality": r.municipality,
                "length": r.length,
                "head": {"seq": r.head.seq, "guid": str(r.head.guid)},
                "ok": r.ok,
                "problem": r.problem,
                "problem_seq": r.problem_seq,
            }
            for r in reports
        ],
    }
