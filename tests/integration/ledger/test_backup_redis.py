"""Backup and restore of the ledger on the real Redis: a lost ledger comes back as it was,
a damaged backup is refused whole, a restore never mixes two ledgers and leaves it held."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, redis_from_url
from kpr_gateway.ledger.backup import (
    BackupDamagedError,
    BackupError,
    RestoreRefusedError,
    check_backup,
    restore_backup,
    write_backup,
)
from kpr_gateway.ledger.safeguards import (
    HoldKind,
    ReleaseRefusedError,
    clock_key,
    generation_key,
    hold_ledger,
    hold_now,
    read_generation,
    release_ledger,
    start_generation,
    tick_clock,
)
from tests.integration.ledger.backup_support import (
    REDIS_URL,
    delete_all,
    fill,
    key_names,
    key_of,
    ledger_on,
    reads,
    rewrite_backup,
)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefixes(redis: Redis) -> AsyncIterator[Callable[[], str]]:
    made: list[str] = []

    def new() -> str:
        made.append(f"test-backup-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield new
    for prefix in made:
        await delete_all(redis, prefix)


async def test_a_lost_ledger_comes_back_as_it_was_and_held(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    prefix = prefixes()
    keys = KeySpace(prefix)
    ledger = ledger_on(redis, prefix)
    generation, _ = await start_generation(redis, keys)
    written = await fill(ledger)
    await tick_clock(redis, keys)
    before = await reads(ledger, written)
    assert all(ok for ok, *_ in before["chains"].values())
    assert before["chains"]["4601"][1] == 12
    names = await key_names(redis, prefix)
    event_ttl = await redis.pttl(keys.event("bergen", written.event_ids[0]))

    summary = await write_backup(redis, keys, tmp_path / "ledger.gz")
    assert summary.keys == len(names) - 1  # the marker is in the header
    assert summary.generation == generation
    assert check_backup(tmp_path / "ledger.gz") == summary

    assert await delete_all(redis, prefix) == len(names)  # Redis lost its data
    report = await restore_backup(redis, keys, tmp_path / "ledger.gz")

    assert report.restored == summary.keys
    assert report.tenants_with_chains == ["bergen"]
    assert await key_names(redis, prefix) == names
    assert await reads(ledger, written) == before
    assert await redis.get(clock_key(keys)) == b"1"
    # the retention goes on from where it was, not from the restore
    restored_ttl = await redis.pttl(keys.event("bergen", written.event_ids[0]))
    assert event_ttl - 60_000 < restored_ttl <= event_ttl
    # the same ledger (same generation), held until an operator releases it
    marker = await read_generation(redis, keys)
    assert marker is not None
    assert marker.id == generation.id
    assert marker.hold is not None
    assert marker.hold.kind is HoldKind.RESTORED
    assert marker.hold.backup_taken_at == summary.taken_at


async def test_a_backup_restores_under_another_prefix(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    source, target = prefixes(), prefixes()
    await start_generation(redis, KeySpace(source))
    written = await fill(ledger_on(redis, source), batches=2)
    await write_backup(redis, KeySpace(source), tmp_path / "ledger.gz")

    await restore_backup(redis, KeySpace(target), tmp_path / "ledger.gz")

    expected = await reads(ledger_on(redis, source), written)
    found = await reads(ledger_on(redis, target), written)
    # the message index names the tenant under either prefix; everything else is the same
    assert found == expected
    assert len(await key_names(redis, target)) == len(await key_names(redis, source))


async def test_memory_stays_flat_for_a_large_ledger(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    prefix = prefixes()
    keys = KeySpace(prefix)
    await start_generation(redis, keys)
    value = b"x" * 2000
    for start in range(0, 20_000, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, start + 1000):
                pipe.set(f"{prefix}:{{bergen}}:ev:{i}", value + str(i).encode())
            await pipe.execute()

    tracemalloc.start()
    try:
        summary = await write_backup(redis, keys, tmp_path / "large.gz")
        _, backup_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await delete_all(redis, prefix)
        report = await restore_backup(redis, keys, tmp_path / "large.gz")
        _, restore_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.keys == report.restored == 20_000
    # 40 MB of values went through; a round of 300 keys is under 1 MB
    assert backup_peak < 8 * 1024 * 1024, backup_peak
    assert restore_peak < 8 * 1024 * 1024, restore_peak
    assert await redis.get(f"{prefix}:{{bergen}}:ev:19999") == value + b"19999"


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _without_the_last_line(path: Path) -> None:
    with gzip.open(path, "rb") as read:
        lines = read.readlines()
    with gzip.open(path, "wb") as write:
        write.writelines(lines[:-1])


def _a_key_changed(path: Path) -> None:
    with gzip.open(path, "rb") as read:
        lines = read.readlines()
    record = json.loads(lines[2])
    # another retention: the count fits, the checksum does not
    record["x"] = (record["x"] or 0) + 1
    lines[2] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    with gzip.open(path, "wb") as write:
        write.writelines(lines)


def _not_a_backup(path: Path) -> None:
    path.write_bytes(gzip.compress(b'{"format":"something else"}\n'))


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_cut, "not a whole gzip file"),
        (_flip_a_byte, "not a whole gzip file|not JSON|not readable|checksum|not a ledger"),
        (_without_the_last_line, "cut short"),
        (_a_key_changed, "checksum does not match"),
        (_not_a_backup, "not a ledger backup"),
    ],
)
async def test_a_damaged_backup_is_refused_before_anything_is_written(
    redis: Redis,
    prefixes: Callable[[], str],
    tmp_path: Path,
    damage: Callable[[Path], None],
    said: str,
) -> None:
    source, target = prefixes(), prefixes()
    await start_generation(redis, KeySpace(source))
    await fill(ledger_on(redis, source), batches=1)
    path = tmp_path / "ledger.gz"
    await write_backup(redis, KeySpace(source), path)
    damage(path)

    with pytest.raises(BackupDamagedError, match=said):
        await restore_backup(redis, KeySpace(target), path)
    assert await key_names(redis, target) == set()


async def test_a_restore_never_mixes_two_ledgers(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    prefix = prefixes()
    keys = KeySpace(prefix)
    await start_generation(redis, keys)
    written = await fill(ledger_on(redis, prefix), batches=1)
    before = await reads(ledger_on(redis, prefix), written)
    backup_names = await key_names(redis, prefix)
    await write_backup(redis, keys, tmp_path / "ledger.gz")
    later = await fill(ledger_on(redis, prefix), batches=1)  # work after the backup
    marker_before = await read_generation(redis, keys)

    with pytest.raises(RestoreRefusedError, match="not empty"):
        await restore_backup(redis, keys, tmp_path / "ledger.gz")
    assert await read_generation(redis, keys) == marker_before  # untouched

    report = await restore_backup(redis, keys, tmp_path / "ledger.gz", replace_existing=True)

    assert report.replaced > 0
    assert await key_names(redis, prefix) == backup_names  # what came later is gone
    assert await reads(ledger_on(redis, prefix), written) == before
    assert await ledger_on(redis, prefix).get_event("bergen", later.event_ids[0]) is None


async def test_a_restore_cut_off_half_way_stays_held_until_done_again(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    prefix = prefixes()
    keys = KeySpace(prefix)
    await start_generation(redis, keys)
    await fill(ledger_on(redis, prefix), batches=1)
    good = tmp_path / "ledger.gz"
    await write_backup(redis, keys, good)
    await delete_all(redis, prefix)

    def spoil_the_last(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # a payload Redis refuses (its own checksum), in a file that is otherwise whole
        records[-1]["d"] = "AAAA"
        return records

    spoilt = tmp_path / "spoilt.gz"
    rewrite_backup(good, spoilt, spoil_the_last)
    with pytest.raises(BackupError, match="refused to restore a key"):
        await restore_backup(redis, keys, spoilt)
    marker = await read_generation(redis, keys)
    assert marker is not None
    assert marker.hold is not None
    assert marker.hold.kind is HoldKind.RESTORING
    with pytest.raises(ReleaseRefusedError, match="did not finish"):
        await release_ledger(redis, keys, "looked fine")

    await restore_backup(redis, keys, good, replace_existing=True)
    restored = await read_generation(redis, keys)
    assert restored is not None
    assert restored.hold is not None
    assert restored.hold.kind is HoldKind.RESTORED


async def test_release_lifts_the_hold_and_raises_the_incarnation(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    prefix = prefixes()
    keys = KeySpace(prefix)
    generation, _ = await start_generation(redis, keys)
    with pytest.raises(ReleaseRefusedError, match="not held"):
        await release_ledger(redis, keys, "nothing happened")
    await write_backup(redis, keys, tmp_path / "ledger.gz")
    await restore_backup(redis, keys, tmp_path / "ledger.gz", replace_existing=True)

    released = await release_ledger(redis, keys, "AppRecs since the backup reconciled")

    assert released.id == generation.id
    assert released.hold is None
    assert released.incarnation > generation.incarnation
    assert released.released is not None
    assert released.released.reason == "AppRecs since the backup reconciled"
    assert released.released.hold.kind is HoldKind.RESTORED
    assert await read_generation(redis, keys) == released
    # a backup taken before this release, restored again, is held again and released higher
    await restore_backup(redis, keys, tmp_path / "ledger.gz", replace_existing=True)
    again = await release_ledger(redis, keys, "again")
    assert again.incarnation > released.incarnation


async def test_a_hold_already_there_stays_the_first(
    redis: Redis, prefixes: Callable[[], str]
) -> None:
    keys = KeySpace(prefixes())
    assert await hold_ledger(redis, keys, hold_now(HoldKind.OPERATOR, "x")) is None  # no marker
    await start_generation(redis, keys)
    first = hold_now(HoldKind.WENT_BACK, "clock 3, seen 9")
    held = await hold_ledger(redis, keys, first)
    assert held is not None
    assert held.hold == first
    later = await hold_ledger(redis, keys, hold_now(HoldKind.OPERATOR, "by hand"))
    assert later is not None
    assert later.hold == first


async def test_a_backup_needs_the_marker_and_never_overwrites(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    keys = KeySpace(prefixes())
    await redis.set(f"{keys.prefix}:stray", "1")
    with pytest.raises(BackupError, match="no generation marker"):
        await write_backup(redis, keys, tmp_path / "ledger.gz")
    assert not (tmp_path / "ledger.gz").exists()
    await redis.delete(f"{keys.prefix}:stray")

    await start_generation(redis, keys)
    existing = tmp_path / "existing.gz"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        await write_backup(redis, keys, existing)
    assert existing.read_bytes() == b"keep me"
    assert list(tmp_path.iterdir()) == [existing]  # no .partial left either


async def test_the_backup_holds_every_key_but_the_marker(
    redis: Redis, prefixes: Callable[[], str], tmp_path: Path
) -> None:
    keys = KeySpace(prefixes())
    await start_generation(redis, keys)
    await tick_clock(redis, keys)
    await redis.set(f"{keys.prefix}:{{bergen}}:ev:a*b", "glob characters in a key")
    path = tmp_path / "ledger.gz"
    await write_backup(redis, keys, path)
    with gzip.open(path, "rb") as read:
        header, *records, trailer = [json.loads(line) for line in read]
    found = [key_of(record) for record in records]
    marker = await read_generation(redis, keys)
    assert marker is not None
    assert header["generation"]["id"] == marker.id
    assert trailer["keys"] == 2
    assert sorted(found) == sorted(
        [clock_key(keys).encode(), f"{keys.prefix}:{{bergen}}:ev:a*b".encode()]
    )
    assert generation_key(keys).encode() not in found
