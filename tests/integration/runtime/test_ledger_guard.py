"""A service refuses a ledger that can be lost silently, and stops when it was lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner, Result

from kpr_gateway.cli.main import app as kprgw
from kpr_gateway.ledger import KeySpace, redis_from_url
from kpr_gateway.ledger.safeguards import (
    Durability,
    clock_key,
    generation_key,
    read_durability,
    read_generation,
    start_generation,
)
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.runtime.ledger_guard import (
    LedgerGuard,
    LedgerLostError,
    LedgerNotDurableError,
    Mode,
)
from kpr_gateway.security.devpki import DevPki
from tests.support.outbound_world import bergen_entry, write_tenants

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
WITH_AOF = Durability(aof_enabled=True, appendfsync="everysec")
WITHOUT_AOF = Durability(aof_enabled=False, appendfsync="everysec")
LAZY_FSYNC = Durability(aof_enabled=True, appendfsync="no")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def keys(redis: Redis) -> AsyncIterator[KeySpace]:
    space = KeySpace(f"test-guard-{uuid.uuid4().hex[:8]}")
    yield space
    await redis.delete(generation_key(space), clock_key(space))


def guard(
    redis: Redis,
    keys: KeySpace,
    durability: Durability,
    *,
    mode: Mode = "production",
    allow: bool = False,
) -> LedgerGuard:
    async def read(_: Redis) -> Durability:
        return durability

    return LedgerGuard(
        redis,
        keys,
        ServiceMetrics(f"guard{uuid.uuid4().hex[:6]}"),
        mode=mode,
        allow_without_aof=allow,
        check_seconds=0.05,
        durability=read,
    )


async def test_durability_is_read_as_the_server_is_configured(redis: Redis) -> None:
    durability = await read_durability(redis)
    appendonly, fsync = await _config(redis, "appendonly"), await _config(redis, "appendfsync")
    maxmemory, policy = await _config(redis, "maxmemory"), await _config(redis, "maxmemory-policy")
    evicts = maxmemory != "0" and policy != "noeviction"
    assert durability == Durability(
        aof_enabled=appendonly == "yes", appendfsync=fsync, evicts=evicts
    )


async def test_a_redis_that_evicts_keys_is_not_enough(redis: Redis, keys: KeySpace) -> None:
    await start_generation(redis, keys)
    evicting = Durability(aof_enabled=True, appendfsync="everysec", evicts=True)
    assert not evicting.sufficient
    with pytest.raises(LedgerNotDurableError, match="evicts keys when full"):
        await guard(redis, keys, evicting).check_at_start()


async def test_a_marker_not_written_by_init_reads_as_another_ledger(
    redis: Redis, keys: KeySpace
) -> None:
    await redis.set(generation_key(keys), "not json")
    found = await read_generation(redis, keys)
    assert found is not None
    assert found.id == "(unreadable)"


async def _config(redis: Redis, name: str) -> str:
    answer: dict[Any, Any] = dict(await redis.config_get(name))
    value = answer.get(name, answer.get(name.encode()))
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("found", [WITHOUT_AOF, LAZY_FSYNC])
async def test_production_refuses_a_redis_that_can_lose_the_ledger(
    redis: Redis, keys: KeySpace, found: Durability
) -> None:
    await start_generation(redis, keys)
    with pytest.raises(LedgerNotDurableError, match="appendonly yes and appendfsync everysec"):
        await guard(redis, keys, found).check_at_start()


async def test_the_explicit_override_runs_and_shows_itself(redis: Redis, keys: KeySpace) -> None:
    await start_generation(redis, keys)
    allowed = guard(redis, keys, WITHOUT_AOF, allow=True)
    await allowed.check_at_start()
    checks = allowed.readiness_checks()
    assert list(checks) == ["redis_without_aof_allowed"]
    assert await checks["redis_without_aof_allowed"]()
    durable = guard(redis, keys, WITH_AOF)
    await durable.check_at_start()
    assert list(durable.readiness_checks()) == ["redis_aof"]


async def test_production_needs_the_generation_marker(redis: Redis, keys: KeySpace) -> None:
    with pytest.raises(LedgerLostError, match="kprgw ledger init"):
        await guard(redis, keys, WITH_AOF).check_at_start()
    assert await read_generation(redis, keys) is None  # production never writes it


async def test_development_writes_the_marker_and_runs_without_aof(
    redis: Redis, keys: KeySpace
) -> None:
    development = guard(redis, keys, WITHOUT_AOF, mode="development")
    await development.check_at_start()
    assert development.generation is not None
    assert await read_generation(redis, keys) == development.generation


async def test_a_ledger_lost_while_running_stops_the_watch(redis: Redis, keys: KeySpace) -> None:
    running = guard(redis, keys, WITH_AOF, mode="development")
    await running.check_at_start()
    watching = asyncio.create_task(running.watch())
    await asyncio.sleep(0.2)
    assert not watching.done()
    await redis.delete(generation_key(keys))  # Redis restarted without its data, say
    with pytest.raises(LedgerLostError, match="lost or replaced"):
        await asyncio.wait_for(watching, timeout=5)


async def test_a_ledger_replaced_by_another_stops_the_watch(redis: Redis, keys: KeySpace) -> None:
    running = guard(redis, keys, WITH_AOF, mode="development")
    await running.check_at_start()
    watching = asyncio.create_task(running.watch())
    await redis.delete(generation_key(keys))
    await start_generation(redis, keys)  # another ledger's marker (a wrong backup)
    with pytest.raises(LedgerLostError, match="is now generation"):
        await asyncio.wait_for(watching, timeout=5)


async def test_kprgw_ledger_init_and_status(redis: Redis, keys: KeySpace) -> None:
    options = ["--redis-url", REDIS_URL, "--key-prefix", keys.prefix]

    async def cli(*command: str) -> Result:
        # In a thread: the command runs its own event loop.
        arguments = ["ledger", *command, *options]
        return await asyncio.to_thread(lambda: CliRunner().invoke(kprgw, arguments))

    missing = await cli("status")
    assert missing.exit_code == 1
    assert "no generation marker" in missing.output
    first = await cli("init")
    assert first.exit_code == 0
    assert first.output.startswith("written: generation ")
    again = await cli("init")
    assert again.output.startswith("already there: generation ")
    marker = await read_generation(redis, keys)
    assert marker is not None
    assert marker.id in first.output
    assert marker.id in again.output
    status = await cli("status")
    durable = (await read_durability(redis)).sufficient
    assert status.exit_code == (0 if durable else 1)
    assert ("NOT fit for production" in status.output) != durable


def test_a_service_in_production_mode_will_not_start_on_an_unmarked_ledger(
    dev_pki: DevPki, tmp_path: Path
) -> None:
    write_tenants(dev_pki, tmp_path, [bergen_entry()])
    prefix = f"test-guard-{uuid.uuid4().hex[:8]}"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KPRGW_ENVELOPE_")},
        "KPRGW_ENVELOPE_TENANTS_FILE": str(tmp_path / "tenants.yaml"),
        "KPRGW_ENVELOPE_KEY_PREFIX": prefix,
        "KPRGW_ENVELOPE_QUEUE_PREFIX": prefix,
        "KPRGW_ENVELOPE_HTTP_PORT": "0",
        "KPRGW_ENVELOPE_LOG_JSON": "false",
        "KPRGW_ENVELOPE_MODE": "production",
        # whatever the local Redis' AOF: this test is about the marker
        "KPRGW_ENVELOPE_ALLOW_REDIS_WITHOUT_AOF": "true",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "kpr_gateway.envelope"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert "the ledger has no generation marker" in finished.stderr
    assert "kprgw ledger init" in finished.stderr
