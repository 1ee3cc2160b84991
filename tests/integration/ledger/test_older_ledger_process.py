"""A service as its own process, in production mode, on the local Redis and RabbitMQ: it
leaves the newest ledger clock on the bus while it runs, and after older Redis files were
put back while it was stopped it refuses to start, and holds the ledger."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, redis_from_url
from kpr_gateway.ledger.safeguards import HoldKind, read_clock, read_generation, start_generation
from kpr_gateway.pipeline.queues import Topology
from kpr_gateway.runtime.ledger_witness import RabbitWitness, witness_queue
from kpr_gateway.security.devpki import DevPki
from tests.integration.ledger.backup_support import REDIS_URL, copy_of, delete_all, put_back
from tests.support.outbound_fixtures import dev_pki
from tests.support.outbound_world import bergen_entry, write_tenants
from tests.support.rabbit import RABBIT_URL, delete_queues

__all__ = ["dev_pki"]


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"test-older-proc-{uuid.uuid4().hex[:8]}"
    yield value
    await delete_all(redis, value)
    await delete_queues([*(spec.name for spec in Topology(prefix=value).specs())])
    await delete_queues([witness_queue(value)])


def envelope(tmp_path: Path, prefix: str) -> subprocess.Popen[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KPRGW_ENVELOPE_")},
        "KPRGW_ENVELOPE_TENANTS_FILE": str(tmp_path / "tenants.yaml"),
        "KPRGW_ENVELOPE_KEY_PREFIX": prefix,
        "KPRGW_ENVELOPE_QUEUE_PREFIX": prefix,
        "KPRGW_ENVELOPE_RABBITMQ_URL": RABBIT_URL,
        "KPRGW_ENVELOPE_HTTP_PORT": "0",
        "KPRGW_ENVELOPE_OPS_PORT": "0",
        "KPRGW_ENVELOPE_LOG_JSON": "false",
        "KPRGW_ENVELOPE_MODE": "production",
        "KPRGW_ENVELOPE_LEDGER_CHECK_SECONDS": "0.1",
        # whatever the local Redis' AOF: this test is about what Redis comes back with
        "KPRGW_ENVELOPE_ALLOW_REDIS_WITHOUT_AOF": "true",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kpr_gateway.envelope"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_older_files_put_back_while_stopped_are_refused_at_start(
    redis: Redis, prefix: str, dev_pki: DevPki, tmp_path: Path
) -> None:
    write_tenants(dev_pki, tmp_path, [bergen_entry()])
    keys = KeySpace(prefix)
    await start_generation(redis, keys)
    older = await copy_of(redis, prefix)  # last night's RDB, say

    running = envelope(tmp_path, prefix)
    try:
        for _ in range(300):  # running, its clock moving
            if await read_clock(redis, keys) >= 5 or running.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert running.poll() is None, running.communicate()[1]
    finally:
        running.send_signal(signal.SIGTERM)
        _, stopped = await asyncio.to_thread(running.communicate, timeout=60)
    assert running.returncode == 0, stopped
    witness = RabbitWitness(RABBIT_URL, queue=witness_queue(prefix))
    try:
        mark = await witness.last()
    finally:
        await witness.aclose()
    assert mark is not None
    assert mark.clock >= 5

    await put_back(redis, prefix, older)  # Redis restarted from the older files

    again = envelope(tmp_path, prefix)
    _, refused = await asyncio.to_thread(again.communicate, timeout=60)
    assert again.returncode == 2, refused
    assert "came back from an older copy" in refused
    assert "kprgw ledger release" in refused
    marker = await read_generation(redis, keys)
    assert marker is not None
    assert marker.hold is not None
    assert marker.hold.kind is HoldKind.BEHIND_WITNESS
