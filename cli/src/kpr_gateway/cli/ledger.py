"""``kprgw ledger init|status|backup|restore|hold|release``: the ledger's safety.

Services in production mode start only on a ledger with its generation marker and on a Redis
that keeps an append-only file synced at least every second (see
``kpr_gateway.ledger.safeguards``), and no service starts on a *held* ledger. ``init`` writes
the marker of a new install (and changes nothing when it is there); ``status`` shows the
marker, any hold, the ledger clock and Redis' durability. ``backup`` writes every key of the
ledger to one file; ``restore`` brings one back and leaves the ledger held (restored);
``hold`` holds it by hand (after restoring Redis' own files, say); ``release`` lifts a hold
once the operator has reconciled the ledger with what KPR acknowledged (docs/operations.md,
"After a ledger loss"). Exit 0 when done (or the ledger is fit for production), 1 when
refused or unfit (the reason printed), 2 on usage errors, when Redis cannot be read or a file
cannot be opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from redis.asyncio import Redis

from kpr_gateway.cli.output import fail
from kpr_gateway.ledger import ChainReport, KeySpace, Ledger, LedgerError, redis_from_url
from kpr_gateway.ledger.backup import (
    BackupError,
    BackupSummary,
    RestoreReport,
    restore_backup,
    write_backup,
)
from kpr_gateway.ledger.safeguards import (
    Durability,
    Generation,
    HoldKind,
    ReleaseRefusedError,
    hold_ledger,
    hold_now,
    read_clock,
    read_durability,
    read_generation,
    release_ledger,
    start_generation,
)

app = typer.Typer(
    no_args_is_help=True,
    help="The ledger's generation marker, durability, backup, restore and holds.",
)
T = TypeVar("T")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_PREFIX = KeySpace().prefix
EXIT_UNFIT = 1
EXIT_UNUSABLE = 2

RedisUrl = Annotated[
    str, typer.Option("--redis-url", envvar="KPRGW_REDIS_URL", help="The ledger's Redis.")
]
KeyPrefix = Annotated[
    str,
    typer.Option("--key-prefix", envvar="KPRGW_KEY_PREFIX", help="Prefix of the ledger's keys."),
]


@app.callback()
def _group() -> None:
    """The ledger's generation marker, Redis' durability, backup and restore, holds."""


@app.command()
def init(
    *, redis_url: RedisUrl = DEFAULT_REDIS_URL, key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX
) -> None:
    """Write the generation marker of a new ledger (once: an existing marker stays)."""
    generation, written, durability, _ = asyncio.run(
        _run(_connect(redis_url), key_prefix, write=True)
    )
    if generation is None:  # not reachable: init writes one
        fail("the ledger has no generation marker", code=EXIT_UNUSABLE)
    typer.echo(f"{'written' if written else 'already there'}: {generation.describe()}")
    _report_durability(durability)


@app.command()
def status(
    *, redis_url: RedisUrl = DEFAULT_REDIS_URL, key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX
) -> None:
    """Show the marker (and any hold), the clock and Redis' durability; exit 1 if unfit."""
    generation, _, durability, clock = asyncio.run(
        _run(_connect(redis_url), key_prefix, write=False)
    )
    if generation is None:
        typer.echo(
            "no generation marker: the ledger is empty or not the gateway's ('kprgw ledger "
            "init' for a new install; after a loss see docs/operations.md)"
        )
    else:
        typer.echo(generation.describe())
        if generation.released is not None:
            released = generation.released
            typer.echo(
                f"last release: {released.at} (incarnation {generation.incarnation}), of a hold "
                f"({released.hold.kind}) since {released.hold.since}: {released.reason}"
            )
    typer.echo(f"ledger clock: {clock}")
    _report_durability(durability)
    if generation is not None and generation.hold is not None:
        typer.echo(
            "no service starts on a held ledger: reconcile it (docs/operations.md, 'After a "
            "ledger loss'), then 'kprgw ledger release --reason ...'"
        )
    if generation is None or generation.hold is not None or not durability.sufficient:
        raise typer.Exit(EXIT_UNFIT)


@app.command()
def backup(
    *,
    out: Annotated[
        Path,
        typer.Option("--out", help="The backup file to write (gzip); it must not exist yet."),
    ],
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX,
) -> None:
    """Write every key of the ledger to one file (take it with the services stopped for a
    copy whose keys agree with each other)."""
    try:
        summary = _ledger_call(
            redis_url, key_prefix, lambda redis, keys: write_backup(redis, keys, out)
        )
    except OSError as exc:
        fail(exc, code=EXIT_UNUSABLE)
    except BackupError as exc:
        fail(str(exc), code=EXIT_UNFIT)
    typer.echo(
        f"backup of {summary.generation.describe()}: {summary.keys} keys in {out} "
        f"(taken {summary.taken_at}, finished {summary.finished_at})"
    )


@app.command()
def restore(
    *,
    source: Annotated[
        Path, typer.Option("--from", help="The backup file (from 'kprgw ledger backup').")
    ],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Delete every key under the prefix first: the ledger becomes the backup.",
        ),
    ] = False,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX,
) -> None:
    """Restore a backup into an empty ledger (or replace one) and leave it held: no service
    starts until 'kprgw ledger release'. The chains that came back are checked."""

    async def restore_and_check(redis: Redis, keys: KeySpace) -> tuple[RestoreReport, list[str]]:
        report = await restore_backup(redis, keys, source, replace_existing=replace)
        return report, await _check_chains(Ledger(redis, keys=keys), report.tenants_with_chains)

    try:
        report, broken = _ledger_call(redis_url, key_prefix, restore_and_check)
    except OSError as exc:
        fail(exc, code=EXIT_UNUSABLE)
    except BackupError as exc:
        fail(str(exc), code=EXIT_UNFIT)
    _report_restore(report)
    if broken:
        fail(
            f"{len(broken)} chain(s) restored broken (the backup was taken while the ledger "
            "changed?): restore a backup taken with the services stopped, or reconcile them "
            "by hand before the release",
            code=EXIT_UNFIT,
        )


@app.command()
def hold(
    *,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (times and ledger ids only: no personal data).")
    ],
    taken_at: Annotated[
        str | None,
        typer.Option(
            "--taken-at",
            help="When the copy the ledger came back from was taken, ISO 8601 (after "
            "restoring Redis' own files).",
            show_default=False,
        ),
    ] = None,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX,
) -> None:
    """Hold the ledger: running services stop at their next check, none starts until
    'kprgw ledger release'."""
    reason = _reason(reason)
    if taken_at is not None:
        try:
            taken_at = datetime.fromisoformat(taken_at).isoformat()
        except ValueError:
            fail("--taken-at: a time in ISO 8601 (2026-03-01T02:00:00+01:00)", code=EXIT_UNUSABLE)
    wanted = hold_now(HoldKind.OPERATOR, reason, backup_taken_at=taken_at)
    generation = _ledger_call(
        redis_url, key_prefix, lambda redis, keys: hold_ledger(redis, keys, wanted)
    )
    if generation is None:
        fail("the ledger has no generation marker: nothing to hold", code=EXIT_UNFIT)
    if generation.hold != wanted:
        typer.echo(f"already held, unchanged: {generation.describe()}")
    else:
        typer.echo(f"held: {generation.describe()}")


@app.command()
def release(
    *,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="What was reconciled and how (kept in the marker; no personal data).",
        ),
    ],
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX,
) -> None:
    """Lift the hold once the ledger is reconciled with KPR; the services may start again."""
    reason = _reason(reason)
    try:
        generation = _ledger_call(
            redis_url, key_prefix, lambda redis, keys: release_ledger(redis, keys, reason)
        )
    except ReleaseRefusedError as exc:
        fail(str(exc), code=EXIT_UNFIT)
    typer.echo(f"released: {generation.describe()}; the services may start")


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not cleaned:
        fail("--reason: say what was reconciled", code=EXIT_UNUSABLE)
    return cleaned


def _ledger_call(
    redis_url: str, key_prefix: str, call: Callable[[Redis, KeySpace], Awaitable[T]]
) -> T:
    """Run ``call`` on a connection of its own; an unreadable ledger exits 2. Errors a
    command answers itself (refusals: ``BackupError``, ``ReleaseRefusedError``) pass."""
    redis = _connect(redis_url)

    async def run() -> T:
        try:
            return await call(redis, KeySpace(key_prefix))
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (BackupError, ReleaseRefusedError):
        raise
    except LedgerError as exc:
        fail(f"the ledger cannot be read: {exc}", code=EXIT_UNUSABLE)


async def _check_chains(ledger: Ledger, tenants: list[str]) -> list[str]:
    """Verify every chain that came back; print each; return the broken ones."""
    broken = []
    for tenant in tenants:
        for municipality in await ledger.chain_municipalities(tenant):
            report = await ledger.verify_chain(tenant, municipality)
            typer.echo(_chain_line(tenant, report))
            if not report.ok:
                broken.append(f"{tenant}/{municipality}")
    return broken


def _chain_line(tenant: str, report: ChainReport) -> str:
    state = "whole" if report.ok else f"BROKEN at seq {report.problem_seq}: {report.problem}"
    return (
        f"chain {tenant}/{report.municipality}: length {report.length}, head seq "
        f"{report.head.seq}, {state}"
    )


def _report_restore(report: RestoreReport) -> None:
    backup: BackupSummary = report.backup
    typer.echo(
        f"restored {report.restored} keys of generation {backup.generation.id} from a backup "
        f"taken {backup.taken_at} (prefix {backup.key_prefix!r})"
        + (f"; {report.expired} expired since and left out" if report.expired else "")
        + (f"; {report.replaced} keys replaced" if report.replaced else "")
    )
    typer.echo(
        "the ledger is held: no service starts until it is reconciled with what KPR "
        "acknowledged since the backup (docs/operations.md, 'After a ledger loss') and "
        "released with 'kprgw ledger release --reason ...'"
    )


def _connect(redis_url: str) -> Redis:
    try:
        return redis_from_url(redis_url)
    except ValueError:
        fail("--redis-url: not a Redis URL (redis://host:port/db)", code=EXIT_UNUSABLE)


async def _run(
    redis: Redis, key_prefix: str, *, write: bool
) -> tuple[Generation | None, bool, Durability, int]:
    keys = KeySpace(key_prefix)
    try:
        generation: Generation | None
        written = False
        if write:
            generation, written = await start_generation(redis, keys)
        else:
            generation = await read_generation(redis, keys)
        durability = await read_durability(redis)
        return generation, written, durability, await read_clock(redis, keys)
    except LedgerError as exc:
        fail(f"the ledger cannot be read: {exc}", code=EXIT_UNUSABLE)
    finally:
        await redis.aclose()


def _report_durability(durability: Durability) -> None:
    verdict = "fit for production" if durability.sufficient else "NOT fit for production"
    typer.echo(f"Redis: {durability.describe()}: {verdict}")
