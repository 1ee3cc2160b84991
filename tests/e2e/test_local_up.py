"""``kprgw local up / status / down``: the gateway as detached processes on the local
RabbitMQ and Redis, run as an operator would, each command its own process."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.local_processes import (
    REDIS_URL,
    LocalRun,
    is_running,
    queue_depths,
    stop_run,
)


def kprgw_local(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The ``local`` command group in a process of its own, as ``kprgw local ...`` runs it."""
    command = [sys.executable, "-c", "from kpr_gateway.cli.local import app; app()"]
    return subprocess.run(
        [*command, *map(str, args)], capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("local") / "run"
    try:
        yield directory
    finally:
        leftover = LocalRun.load(directory)  # a failed test must not leave processes behind
        if leftover is not None:
            asyncio.run(stop_run(leftover, discard_parked=True))


@pytest.fixture(scope="module")
def up(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return kprgw_local("up", "--dir", run_dir, "--port-base", "0")


@pytest.fixture(scope="module")
def state(run_dir: Path, up: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert up.returncode == 0, up.stderr[-3000:]
    data: dict[str, Any] = json.loads((run_dir / "state.json").read_text())
    return data


def test_up_leaves_every_process_running_after_it_exits(
    up: subprocess.CompletedProcess[str], state: dict[str, Any], run_dir: Path
) -> None:
    processes = state["processes"]
    assert set(processes) == {
        "intake",
        "transform",
        "envelope",
        "dispatch",
        "receipts",
        "webhooks",
        "simulator",
    }
    assert all(is_running(p["pid"]) for p in processes.values())
    assert state["intake_url"] in up.stdout
    assert "curl -sS -X POST" in up.stdout
    assert all((run_dir / "logs" / f"{name}.log").is_file() for name in processes)


def test_status_shows_every_process_ready(run_dir: Path, state: dict[str, Any]) -> None:
    status = kprgw_local("status", "--dir", run_dir)
    assert status.returncode == 0, status.stdout + status.stderr
    assert state["prefix"] in status.stdout
    assert f"{state['prefix']}.events" in status.stdout


def test_a_second_up_in_the_same_directory_is_refused(run_dir: Path, state: dict[str, Any]) -> None:
    again = kprgw_local("up", "--dir", run_dir, "--port-base", "0")
    assert again.returncode == 1
    assert "already up" in again.stderr
    running = json.loads((run_dir / "state.json").read_text())
    assert running["prefix"] == state["prefix"]
    assert all(is_running(p["pid"]) for p in running["processes"].values())


def test_one_event_posted_reaches_acknowledged(state: dict[str, Any]) -> None:
    submitted = event(random.Random(), "4601")
    auth = {"Authorization": f"Bearer {state['api_keys']['bergen']}"}
    with httpx.Client(base_url=state["intake_url"], headers=auth, timeout=10) as client:
        posted = client.post("/v1/events", json=submitted)
        assert posted.status_code == 202, posted.text
        deadline = time.monotonic() + 60
        status = posted.json()["status"]
        while status != "acknowledged" and time.monotonic() < deadline:
            time.sleep(0.3)
            status = client.get(f"/v1/events/{submitted['event_id']}").json()["event"]["status"]
    assert status == "acknowledged"


def test_down_keeps_a_run_with_parked_messages_until_told(
    run_dir: Path, state: dict[str, Any]
) -> None:
    parked = next(q for q in state["internal_queues"] if q.endswith("events.parked"))
    asyncio.run(_publish(state["servers"]["rabbitmq_url"], parked, b"{}"))
    refused = kprgw_local("down", "--dir", run_dir)
    assert refused.returncode == 1
    assert f"1 parked messages would be deleted with the run's queues: {parked} (1)" in (
        " ".join(refused.stderr.split())
    )
    assert (run_dir / "state.json").exists()
    assert asyncio.run(queue_depths(state["servers"]["rabbitmq_url"], [parked])) == {parked: 1}


async def _publish(rabbitmq_url: str, queue: str, body: bytes) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)


def test_down_stops_every_process_cleanly_and_leaves_nothing(
    run_dir: Path, state: dict[str, Any]
) -> None:
    down = kprgw_local("down", "--dir", run_dir, "--discard-parked")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "discarding 1 parked messages" in " ".join(down.stdout.split())
    assert "killed" not in down.stdout
    processes = state["processes"].values()
    assert not any(is_running(p["pid"]) or is_running(p["keeper_pid"]) for p in processes)
    assert all(int(Path(p["exit_file"]).read_text()) == 0 for p in processes)
    queues = state["internal_queues"] + state["nhn_queues"]
    assert len(queues) > 10
    depths = asyncio.run(queue_depths(state["servers"]["rabbitmq_url"], queues))
    assert set(depths.values()) == {None}  # every queue of the run is gone
    assert asyncio.run(_keys(state["prefix"])) == []
    assert not (run_dir / "state.json").exists()
    again = kprgw_local("down", "--dir", run_dir)
    assert (again.returncode, "no local run" in again.stdout) == (0, True)


async def _keys(prefix: str) -> list[bytes]:
    redis = Redis.from_url(REDIS_URL)
    try:
        return [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    finally:
        await redis.aclose()
