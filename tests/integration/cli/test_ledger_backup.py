"""``kprgw ledger backup|restore|hold|release|status`` on the real Redis: the runbook of a
ledger loss, command by command, with the exit codes an operator's script relies on."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner, Result

from kpr_gateway.cli.main import app
from kpr_gateway.ledger import KeySpace, redis_from_url
from kpr_gateway.ledger.safeguards import HoldKind, read_generation, start_generation
from tests.integration.ledger.backup_support import (
    REDIS_URL,
    Written,
    delete_all,
    fill,
    key_names,
    key_of,
    ledger_on,
    reads,
    rewrite_backup,
)

T = TypeVar("T")


def on_redis(call: Callable[[Redis], Awaitable[T]]) -> T:
    async def run() -> T:
        redis = redis_from_url(REDIS_URL)
        try:
            return await call(redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"test-cli-backup-{uuid.uuid4().hex[:8]}"
    yield value
    on_redis(lambda redis: delete_all(redis, value))


def ledger(prefix: str, *args: str, redis_url: str = REDIS_URL) -> Result:
    command, *rest = args
    options = ["--redis-url", redis_url, "--key-prefix", prefix]
    return CliRunner().invoke(app, ["ledger", command, *options, *rest])


def a_working_ledger(prefix: str) -> Written:
    async def make(redis: Redis) -> Written:
        await start_generation(redis, KeySpace(prefix))
        return await fill(ledger_on(redis, prefix), batches=2)

    return on_redis(make)


def test_the_runbook_of_a_lost_ledger(prefix: str, tmp_path: Path) -> None:
    written = a_working_ledger(prefix)
    before = on_redis(lambda redis: reads(ledger_on(redis, prefix), written))
    backup = tmp_path / "ledger-backup.gz"

    taken = ledger(prefix, "backup", "--out", str(backup))
    assert taken.exit_code == 0, taken.output
    assert f"keys in {backup}" in taken.output
    again = ledger(prefix, "backup", "--out", str(backup))
    assert again.exit_code == 2
    assert "exists already" in again.stderr

    refused = ledger(prefix, "restore", "--from", str(backup))
    assert refused.exit_code == 1
    assert "is not empty" in refused.stderr

    on_redis(lambda redis: delete_all(redis, prefix))  # the loss
    lost = ledger(prefix, "status")
    assert lost.exit_code == 1
    assert "no generation marker" in lost.output

    restored = ledger(prefix, "restore", "--from", str(backup))
    assert restored.exit_code == 0, restored.output
    assert "chain bergen/0301: length 8, head seq 8, whole" in restored.output
    assert "chain bergen/4601: length 8, head seq 8, whole" in restored.output
    assert "the ledger is held" in restored.output
    assert on_redis(lambda redis: reads(ledger_on(redis, prefix), written)) == before

    held = ledger(prefix, "status")
    assert held.exit_code == 1
    assert "held (restored)" in held.output
    assert "no service starts on a held ledger" in held.output

    assert ledger(prefix, "release", "--reason", "  ").exit_code == 2
    released = ledger(prefix, "release", "--reason", "AppRecs since the backup reconciled")
    assert released.exit_code == 0, released.output
    assert "the services may start" in released.output
    after = ledger(prefix, "status")
    assert "held" not in after.output.split("last release")[0]
    assert "AppRecs since the backup reconciled" in after.output
    assert ledger(prefix, "release", "--reason", "again").exit_code == 1


def test_restore_replace_makes_the_ledger_the_backup(prefix: str, tmp_path: Path) -> None:
    written = a_working_ledger(prefix)
    backup = tmp_path / "ledger.gz"
    assert ledger(prefix, "backup", "--out", str(backup)).exit_code == 0
    names = on_redis(lambda redis: key_names(redis, prefix))
    on_redis(lambda redis: fill(ledger_on(redis, prefix), batches=1))  # work after the backup

    replaced = ledger(prefix, "restore", "--from", str(backup), "--replace")

    assert replaced.exit_code == 0, replaced.output
    assert "keys replaced" in replaced.output
    assert on_redis(lambda redis: key_names(redis, prefix)) == names
    first = written.event_ids[0]
    event = on_redis(lambda redis: ledger_on(redis, prefix).get_event("bergen", first))
    assert event is not None


def test_a_restored_chain_that_is_not_whole_is_reported(prefix: str, tmp_path: Path) -> None:
    written = a_working_ledger(prefix)
    backup = tmp_path / "ledger.gz"
    assert ledger(prefix, "backup", "--out", str(backup)).exit_code == 0
    # a backup that missed an event's key (taken while the ledger changed, say)
    lost = f"{prefix}:{{bergen}}:ev:{written.event_ids[5]}".encode()
    torn = tmp_path / "torn.gz"
    rewrite_backup(backup, torn, lambda records: [r for r in records if key_of(r) != lost])
    on_redis(lambda redis: delete_all(redis, prefix))

    restored = ledger(prefix, "restore", "--from", str(torn))

    assert restored.exit_code == 1
    assert "chain bergen/0301: length 8, head seq 8, whole" in restored.output
    assert "chain bergen/4601: length 8, head seq 8, BROKEN at seq 6: seq 6: event" in (
        restored.output
    )
    assert "1 chain(s) restored broken" in restored.stderr


def test_a_truncated_backup_is_refused_and_nothing_written(prefix: str, tmp_path: Path) -> None:
    a_working_ledger(prefix)
    backup = tmp_path / "ledger.gz"
    assert ledger(prefix, "backup", "--out", str(backup)).exit_code == 0
    with gzip.open(backup, "rb") as read:
        lines = read.readlines()
    with gzip.open(backup, "wb") as write:
        write.writelines(lines[: len(lines) // 2])  # a copy that stopped half way
    target = f"{prefix}-target"
    try:
        refused = ledger(target, "restore", "--from", str(backup))
        assert refused.exit_code == 1
        assert "cut short" in refused.stderr
        assert on_redis(lambda redis: key_names(redis, target)) == set()
    finally:
        on_redis(lambda redis: delete_all(redis, target))

    missing = ledger(prefix, "restore", "--from", str(tmp_path / "nowhere.gz"))
    assert missing.exit_code == 2
    assert "No such file" in missing.stderr


def test_hold_by_hand_after_putting_redis_files_back(prefix: str) -> None:
    assert ledger(prefix, "hold", "--reason", "nothing to hold").exit_code == 1
    a_working_ledger(prefix)
    bad_time = ledger(prefix, "hold", "--reason", "files", "--taken-at", "yesterday")
    assert bad_time.exit_code == 2

    held = ledger(
        prefix, "hold", "--reason", "AOF copied back", "--taken-at", "2026-03-01T02:00:00+01:00"
    )

    assert held.exit_code == 0, held.output
    assert "held (operator)" in held.output
    assert "2026-03-01T02:00:00+01:00" in held.output
    marker = on_redis(lambda redis: read_generation(redis, KeySpace(prefix)))
    assert marker is not None
    assert marker.hold is not None
    assert marker.hold.kind is HoldKind.OPERATOR
    again = ledger(prefix, "hold", "--reason", "second")
    assert "already held, unchanged" in again.output
    assert ledger(prefix, "status").exit_code == 1


def test_a_ledger_without_a_marker_has_no_backup(prefix: str, tmp_path: Path) -> None:
    refused = ledger(prefix, "backup", "--out", str(tmp_path / "ledger.gz"))
    assert refused.exit_code == 1
    assert "no generation marker" in refused.stderr
    assert not (tmp_path / "ledger.gz").exists()


def test_an_unreachable_redis_is_exit_2(prefix: str, tmp_path: Path) -> None:
    nowhere = "redis://127.0.0.1:1/0"
    result = ledger(prefix, "backup", "--out", str(tmp_path / "x.gz"), redis_url=nowhere)
    assert result.exit_code == 2
    assert "cannot be read" in result.stderr
    assert ledger(prefix, "release", "--reason", "x", redis_url=nowhere).exit_code == 2
