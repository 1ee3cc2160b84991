"""The whole gateway in one process (the embedded mode) against the built-in KPR simulator."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kpr_gateway.cli.demo.command import SETTLED
from kpr_gateway.cli.demo.embedded import EmbeddedGateway
from kpr_gateway.cli.demo.samples import sample_set
from kpr_gateway.cli.demo.simulator import SimulatorOptions
from kpr_gateway.cli.demo.world import DemoWorld, create_world

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


async def running(world: DemoWorld, options: SimulatorOptions) -> AsyncIterator[EmbeddedGateway]:
    gateway = EmbeddedGateway(world, port=0, simulator=options)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def submit_and_wait(
    gateway: EmbeddedGateway, world: DemoWorld, tenant: str, municipality: str, count: int
) -> tuple[list[dict[str, object]], dict[str, dict[str, object]]]:
    events = sample_set(random.Random(tenant), municipality, count)
    headers = {"Authorization": f"Bearer {world.api_keys[tenant]}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as client:
        response = await client.post("/v1/events/batch", json=events, headers=headers)
        assert response.status_code == 200
        results = response.json()["results"]
        accepted = [r["event_id"] for r in results if r["status_code"] == 202]
        statuses: dict[str, dict[str, object]] = {}
        async with asyncio.timeout(30):
            while True:
                for event_id in accepted:
                    answer = await client.get(f"/v1/events/{event_id}", headers=headers)
                    statuses[event_id] = answer.json()["event"]
                if all(s["status"] in SETTLED for s in statuses.values()):
                    return results, statuses
                await asyncio.sleep(0.2)


async def test_events_reach_acknowledged_and_invalid_ones_say_why(world: DemoWorld) -> None:
    """The sample: every kind of event, an original with its M and C, a person known by birth
    date only, one notification the API refuses and one synthetic test person."""
    async for gateway in running(world, SimulatorOptions()):
        results, statuses = await submit_and_wait(gateway, world, "bergen", "4601", 6)
        codes = [r["status_code"] for r in results]
        assert codes == [202] * (len(results) - 2) + [422, 202]
        refused = results[-2]
        # the provider change without its provider
        assert {"field": "provider_org_number", "reason": "required for provider_changed"} in (
            refused["errors"]  # type: ignore[operator]
        )
        by_status: dict[str, int] = {}
        for status in statuses.values():
            by_status[str(status["status"])] = by_status.get(str(status["status"]), 0) + 1
        assert by_status == {"acknowledged": len(results) - 2, "suppressed_test_person": 1}
        acknowledged = [s for s in statuses.values() if s["status"] == "acknowledged"]
        messages = {m["msg_id"]: m for s in acknowledged for m in s["messages"]}  # type: ignore[attr-defined]
        assert {m["msg_type"] for m in messages.values()} == {"KPR_IPL"}
        assert all(m["receipt"]["status_code"] == 1 for m in messages.values())
        for message in messages.values():
            states = [t["state"] for t in message["history"]]
            assert states[0] == "built"
            assert states[-1] == "acknowledged"
            assert {"enveloped", "send_attempt", "dispatched"} <= set(states)
        numbers = sorted(int(str(s["seq"])) for s in acknowledged)
        assert numbers == list(range(1, len(acknowledged) + 1))  # no gap, no repeat


async def test_a_simulator_rejection_shows_as_rejected_with_its_codes(world: DemoWorld) -> None:
    async for gateway in running(world, SimulatorOptions(reject_share=1.0)):
        results, statuses = await submit_and_wait(gateway, world, "trondheim", "5001", 2)
        rejected = [s for s in statuses.values() if s["status"] == "rejected"]
        assert len(rejected) == len(results) - 2  # all but the refused one and the test person
        receipt = rejected[0]["messages"][0]["receipt"]  # type: ignore[index]
        assert receipt["status_code"] == 2
        assert receipt["errors"][0]["code"] == "X99"


def test_kprgw_demo_runs_the_sample_and_exits(tmp_path: Path) -> None:
    """The README's run command, made to stop once the sample is done."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpr_gateway.cli.main",
            "demo",
            "--port",
            "0",
            "--exit-after-sample",
            "--events-per-tenant",
            "3",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "acknowledged" in result.stdout
    # The annual round: each municipality's year submitted, both AppRecs in and positive.
    for tenant in ("bergen", "trondheim"):
        assert re.search(
            rf"^{tenant}: submission [0-9a-f-]{{36}} acknowledged; "
            r"KPR_IPL acknowledged \(AppRec 1\), KPR_IDE acknowledged \(AppRec 1\)$",
            result.stdout,
            re.MULTILINE,
        ), result.stdout[-3000:]
    assert result.stdout.count("curl -sS -X POST") == 2
    assert "Authorization: Bearer kprgw_" in result.stdout
