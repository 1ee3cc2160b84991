"""``kprgw ledger init|status``: the ledger's generation marker and Redis' durability.

Services in production mode start only on a ledger with its generation marker and on a Redis
that keeps an append-only file synced at least every second (see
``kpr_gateway.ledger.safeguards``). ``init`` writes the marker of a new install (and changes
nothing when it is there); ``status`` shows both. Exit 0 when the ledger is fit for
production, 1 when not (the reason printed), 2 on usage errors or when Redis cannot be read.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from redis.asyncio import Redis

from kpr_gateway.cli.output import fail
from kpr_gateway.ledger import KeySpace, LedgerError, redis_from_url
from kpr_gateway.ledger.safeguards import (
    Durability,
    Generation,
    read_durability,
    read_generation,
    start_generation,
)

app = typer.Typer(no_args_is_help=True, help="The ledger's generation marker and durability.")

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
    """The ledger's generation marker and Redis' durability."""


@app.command()
def init(
    *, redis_url: RedisUrl = DEFAULT_REDIS_URL, key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX
) -> None:
    """Write the generation marker of a new ledger (once: an existing marker stays)."""
    generation, written, durability = asyncio.run(_run(_connect(redis_url), key_prefix, write=True))
    if generation is None:  # not reachable: init writes one
        fail("the ledger has no generation marker", code=EXIT_UNUSABLE)
    typer.echo(f"{'written' if written else 'already there'}: {generation.describe()}")
    _report_durability(durability)


@app.command()
def status(
    *, redis_url: RedisUrl = DEFAULT_REDIS_URL, key_prefix: KeyPrefix = DEFAULT_KEY_PREFIX
) -> None:
    """Show the generation marker and Redis' durability; exit 1 if unfit for production."""
    generation, _, durability = asyncio.run(_run(_connect(redis_url), key_prefix, write=False))
    if generation is None:
        typer.echo(
            "no generation marker: the ledger is empty or not the gateway's ('kprgw ledger "
            "init' for a new install; after a loss see docs/operations.md)"
        )
    else:
        typer.echo(generation.describe())
    _report_durability(durability)
    if generation is None or not durability.sufficient:
        raise typer.Exit(EXIT_UNFIT)


def _connect(redis_url: str) -> Redis:
    try:
        return redis_from_url(redis_url)
    except ValueError:
        fail("--redis-url: not a Redis URL (redis://host:port/db)", code=EXIT_UNUSABLE)


async def _run(
    redis: Redis, key_prefix: str, *, write: bool
) -> tuple[Generation | None, bool, Durability]:
    keys = KeySpace(key_prefix)
    try:
        generation: Generation | None
        written = False
        if write:
            generation, written = await start_generation(redis, keys)
        else:
            generation = await read_generation(redis, keys)
        return generation, written, await read_durability(redis)
    except LedgerError as exc:
        fail(f"the ledger cannot be read: {exc}", code=EXIT_UNUSABLE)
    finally:
        await redis.aclose()


def _report_durability(durability: Durability) -> None:
    verdict = "fit for production" if durability.sufficient else "NOT fit for production"
    typer.echo(f"Redis: {durability.describe()}: {verdict}")
