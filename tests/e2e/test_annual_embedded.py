"""The annual round in the embedded mode: submit -> sent -> both AppRecs from the simulator."""

from __future__ import annotations

import httpx
import pytest

from kpr_gateway.cli.demo.embedded import EmbeddedGateway
from kpr_gateway.cli.demo.simulator import SimulatorOptions
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from tests.e2e.annual_support import grant_annual_scope, submit_and_follow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    created = create_world(tmp_path_factory.mktemp("world"))
    grant_annual_scope(created)
    return created


async def test_a_clean_year_is_acknowledged_by_kpr(world: DemoWorld) -> None:
    gateway = EmbeddedGateway(world, port=0, simulator=SimulatorOptions())
    await gateway.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{gateway.port}", timeout=30
        ) as client:
            status = await submit_and_follow(client, world.api_keys["bergen"], "bergen")
    finally:
        await gateway.stop()
    assert status["status"] == "acknowledged", status
    assert [m["msg_type"] for m in status["messages"]] == ["KPR_IPL", "KPR_IDE"]
    assert [m["state"] for m in status["messages"]] == ["acknowledged", "acknowledged"]
    assert all(m["receipt"]["status_code"] == 1 for m in status["messages"])
