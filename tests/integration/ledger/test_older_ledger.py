"""A ledger that comes back from an older copy stops the services, on the real Redis and
RabbitMQ: restored by ``kprgw ledger restore`` (held until released), put back from Redis'
own files while a service runs (its clock went back), or while none ran (the witness on the
bus remembers a newer clock)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, redis_from_url
from kpr_gateway.ledger.backup import restore_backup, write_backup
from kpr_gateway.ledger.safeguards import (
    Durability,
    HoldKind,
    hold_ledger,
    hold_now,
    read_generation,
    release_ledger,
    start_generation,
)
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.runtime.ledger_guard import LedgerGuard, LedgerHeldError, LedgerLostError, Mode
from kpr_gateway.runtime.ledger_witness import (
    LedgerMark,
    LedgerWitness,
    RabbitWitness,
    WitnessUnavailableError,
    behind,
)
from tests.integration.ledger.backup_support import (
    REDIS_URL,
    copy_of,
    delete_all,
    fill,
    ledger_on,
    put_back,
)

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
WITH_AOF = Durability(aof_enabled=True, appendfsync="everysec")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def keys(redis: Redis) -> AsyncIterator[KeySpace]:
    space = KeySpace(f"test-older-{uuid.uuid4().hex[:8]}")
    yield space
    await delete_all(redis, space.prefix)


@pytest.fixture
async def witness_queue() -> AsyncIterator[str]:
    name = f"test-older-{uuid.uuid4().hex[:8]}.ledger-witness"
    yield name
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


def guard(
    redis: Redis,
    keys: KeySpace,
    *,
    mode: Mode = "production",
    witness: LedgerWitness | None = None,
) -> LedgerGuard:
    async def durable(_: Redis) -> Durability:
        return WITH_AOF

    return LedgerGuard(
        redis,
        keys,
        ServiceMetrics(f"older{uuid.uuid4().hex[:6]}"),
        mode=mode,
        allow_without_aof=False,
        check_seconds=0.05,
        durability=durable,
        witness=witness,
    )


@pytest.mark.parametrize("mode", ["production", "development"])
async def test_a_restored_ledger_is_refused_until_released(
    redis: Redis, keys: KeySpace, tmp_path: Path, mode: Mode
) -> None:
    await start_generation(redis, keys)
    await fill(ledger_on(redis, keys.prefix), batches=1)
    await write_backup(redis, keys, tmp_path / "ledger.gz")
    await delete_all(redis, keys.prefix)
    await restore_backup(redis, keys, tmp_path / "ledger.gz")

    with pytest.raises(LedgerHeldError, match=r"held \(restored\).*kprgw ledger release"):
        await guard(redis, keys, mode=mode).check_at_start()

    await release_ledger(redis, keys, "reconciled with KPR's AppRecs")
    started = guard(redis, keys, mode=mode)
    await started.check_at_start()
    assert started.generation == await read_generation(redis, keys)


async def test_a_restore_stops_a_running_service(
    redis: Redis, keys: KeySpace, tmp_path: Path
) -> None:
    await start_generation(redis, keys)
    await write_backup(redis, keys, tmp_path / "ledger.gz")
    running = guard(redis, keys)
    await running.check_at_start()
    watching = asyncio.create_task(running.watch())
    await asyncio.sleep(0.2)
    assert not watching.done()

    # a restore over a ledger still in use (the runbook scales to 0 first)
    await restore_backup(redis, keys, tmp_path / "ledger.gz", replace_existing=True)

    with pytest.raises(LedgerHeldError, match=r"held \(restor"):
        await asyncio.wait_for(watching, timeout=5)


async def test_an_operators_hold_stops_a_running_service(redis: Redis, keys: KeySpace) -> None:
    await start_generation(redis, keys)
    running = guard(redis, keys)
    await running.check_at_start()
    watching = asyncio.create_task(running.watch())
    await hold_ledger(redis, keys, hold_now(HoldKind.OPERATOR, "Redis files put back"))
    with pytest.raises(LedgerHeldError, match="Redis files put back"):
        await asyncio.wait_for(watching, timeout=5)


async def test_an_older_ledger_stops_a_running_service_and_holds_it(
    redis: Redis, keys: KeySpace
) -> None:
    await start_generation(redis, keys)
    ledger = ledger_on(redis, keys.prefix)
    await fill(ledger, batches=1)
    first = guard(redis, keys)
    await first.check_at_start()
    older = await copy_of(redis, keys.prefix)  # an RDB snapshot, say
    other = guard(redis, keys)
    await other.check_at_start()
    watching = [asyncio.create_task(g.watch()) for g in (first, other)]
    await asyncio.sleep(0.3)  # the services go on; the ledger clock moves
    assert not any(task.done() for task in watching)

    await put_back(redis, keys.prefix, older)  # Redis restarted from the older files

    with pytest.raises(LedgerHeldError, match="went back in time"):
        await asyncio.wait_for(watching[0], timeout=5)
    # whichever noticed first held it: the other stops on the hold
    with pytest.raises(LedgerHeldError):
        await asyncio.wait_for(watching[1], timeout=5)
    marker = await read_generation(redis, keys)
    assert marker is not None
    assert marker.hold is not None
    assert marker.hold.kind is HoldKind.WENT_BACK
    assert "this service had seen" in marker.hold.reason
    with pytest.raises(LedgerHeldError):
        await guard(redis, keys).check_at_start()


async def test_a_ledger_lost_while_running_is_still_a_loss(redis: Redis, keys: KeySpace) -> None:
    await start_generation(redis, keys)
    running = guard(redis, keys)
    await running.check_at_start()
    watching = asyncio.create_task(running.watch())
    await delete_all(redis, keys.prefix)
    with pytest.raises(LedgerLostError, match="lost or replaced") as stopped:
        await asyncio.wait_for(watching, timeout=5)
    assert not isinstance(stopped.value, LedgerHeldError)


async def test_the_witness_catches_older_files_put_back_while_nothing_ran(
    redis: Redis, keys: KeySpace, witness_queue: str
) -> None:
    await start_generation(redis, keys)
    older = await copy_of(redis, keys.prefix)
    witness = RabbitWitness(RABBITMQ_URL, queue=witness_queue)
    try:
        running = guard(redis, keys, witness=witness)
        await running.check_at_start()
        watching = asyncio.create_task(running.watch())
        await asyncio.sleep(0.3)
        watching.cancel()  # every service stopped (scaled to 0)
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await running.aclose()
        last = await witness.last()
        assert last is not None
        assert last.clock >= 3

        await put_back(redis, keys.prefix, older)  # older files, nothing running to notice

        with pytest.raises(LedgerHeldError, match="came back from an older copy"):
            await guard(redis, keys, witness=witness).check_at_start()
        marker = await read_generation(redis, keys)
        assert marker is not None
        assert marker.hold is not None
        assert marker.hold.kind is HoldKind.BEHIND_WITNESS
        assert await witness.last() == last  # reading keeps the mark

        # reconciled and released: the witness' mark is of the incarnation before
        await release_ledger(redis, keys, "reconciled")
        await guard(redis, keys, witness=witness).check_at_start()
    finally:
        await witness.aclose()


async def test_a_ledger_that_kept_everything_starts_after_the_witness(
    redis: Redis, keys: KeySpace, witness_queue: str
) -> None:
    await start_generation(redis, keys)
    witness = RabbitWitness(RABBITMQ_URL, queue=witness_queue)
    try:
        for _ in range(3):  # services stopped and started again, Redis intact
            started = guard(redis, keys, witness=witness)
            await started.check_at_start()
            await started.aclose()
        # a new ledger (kprgw ledger init after a loss) is not compared with the old one's
        await delete_all(redis, keys.prefix)
        await start_generation(redis, keys)
        await guard(redis, keys, witness=witness).check_at_start()
        last = await witness.last()
        marker = await read_generation(redis, keys)
        assert last is not None
        assert marker is not None
        assert last.generation == marker.id
    finally:
        await witness.aclose()


async def test_a_witness_out_of_reach_does_not_stop_the_start(
    redis: Redis, keys: KeySpace, caplog: pytest.LogCaptureFixture
) -> None:
    await start_generation(redis, keys)
    unreachable = RabbitWitness("amqp://guest:guest@127.0.0.1:1/", timeout=2)
    with pytest.raises(WitnessUnavailableError):
        await unreachable.last()
    started = guard(redis, keys, witness=unreachable)
    await started.check_at_start()
    assert "not compared at this start" in caplog.text
    await started.aclose()


def test_behind_compares_incarnation_then_clock_of_the_same_generation() -> None:
    seen = LedgerMark("g", incarnation=0, clock=10)
    assert behind(LedgerMark("g", 0, 10), seen)  # a tick just taken is never the last seen
    assert behind(LedgerMark("g", 0, 4), seen)
    assert not behind(LedgerMark("g", 0, 11), seen)
    assert not behind(LedgerMark("g", 5, 1), seen)  # released since
    assert behind(LedgerMark("g", 0, 99), LedgerMark("g", 5, 1))  # a copy from before a release
    assert not behind(LedgerMark("h", 0, 1), seen)  # another ledger
