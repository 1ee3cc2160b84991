"""The annual round with every service as its own process on the real RabbitMQ and Redis and
the KPR simulator over AMQP 1.0: submit -> sent -> acknowledged, and the resend rules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from kpr_gateway.cli.demo.world import create_world
from tests.e2e.annual_support import grant_annual_scope, submit_and_follow
from tests.e2e.processes import GatewayProcesses
from tests.e2e.test_processes import _cleanup, _declare_nhn_queues


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    run_dir = tmp_path_factory.mktemp("e2e-annual")
    prefix = f"kprgw-e2e-{uuid.uuid4().hex[:8]}"
    world = create_world(run_dir / "world", nhn_queue_prefix=prefix)
    grant_annual_scope(world)
    processes = GatewayProcesses(world, run_dir, prefix=prefix)
    asyncio.run(_declare_nhn_queues(processes))
    processes.start()
    try:
        yield processes
    finally:
        codes = processes.stop()
        asyncio.run(_cleanup(processes))
        assert all(code == 0 for code in codes.values()), codes


async def test_a_year_is_acknowledged_and_a_second_needs_replace(
    gateway: GatewayProcesses,
) -> None:
    key = gateway.world.api_keys["bergen"]
    async with httpx.AsyncClient(base_url=gateway.intake_url, timeout=60) as client:
        status = await submit_and_follow(client, key, "bergen")
        assert status["status"] == "acknowledged", status
        assert [m["state"] for m in status["messages"]] == ["acknowledged", "acknowledged"]
        again = await client.post(
            "/v1/annual-submissions",
            files={"iplos": ("i.xml", b"<x/>"), "ident": ("d.xml", b"<x/>")},
            data={"year": "2025"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert again.status_code == 409
    assert again.json()["details"][0]["submission_id"] == status["submission_id"]
