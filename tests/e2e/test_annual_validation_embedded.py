"""A test submission to KPR Validering in the embedded mode.

Bergen sends to KPR in production. ``kprgw annual submit --environment validation`` sends its
2025 pair to KPR Validering instead: both messages are addressed, sealed, sent and answered
there (the simulator plays each receiver on its own queue and refuses a message on another
receiver's queue with E21), and both AppRecs close them. The real submission for the same
year goes to KPR meanwhile, neither blocked by the test nor made to need replace by it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from kpr_gateway.cli import annual
from kpr_gateway.cli.demo.embedded import EmbeddedGateway
from kpr_gateway.cli.demo.simulator import SimulatorOptions
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.nhn import NhnMessage
from tests.e2e.annual_support import EXAMPLES, follow, grant_annual_scope, submit_and_follow

KPR_QUEUE, KPR_VALIDERING_QUEUE = "122612_async", "171479_async"
EXIT_CONFLICT = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    created = create_world(tmp_path_factory.mktemp("world"), environment="production")
    grant_annual_scope(created)
    return created


@dataclass
class Running:
    gateway: EmbeddedGateway
    client: httpx.AsyncClient
    sent: list[NhnMessage] = field(default_factory=list)
    """Everything put on the in-process Tjenestebuss, in order."""

    def to_receivers(self) -> list[tuple[str, str]]:
        """(queue, subject) of what the gateway sent to a KPR receiver."""
        return [(m.to, m.subject) for m in self.sent if m.subject in ("KPR_IPL", "KPR_IDE")]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"


@pytest.fixture
async def running(world: DemoWorld, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    gateway = EmbeddedGateway(world, port=0, simulator=SimulatorOptions())
    sent: list[NhnMessage] = []
    put = gateway.nhn_broker.put

    def noting(message: NhnMessage) -> None:
        sent.append(message)
        put(message)

    monkeypatch.setattr(gateway.nhn_broker, "put", noting)
    await gateway.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{gateway.port}", timeout=30
        ) as client:
            yield Running(gateway, client, sent)
    finally:
        await gateway.stop()


async def kprgw_annual_submit(url: str, api_key: str, *options: str) -> tuple[int, str]:
    """``kprgw annual submit`` of bergen's 2025 pair, run beside the gateway's event loop."""
    parent = typer.Typer()
    parent.add_typer(annual.app, name="annual")
    arguments = [
        "annual", "submit", "--tenant", "bergen", "--url", url, "--year", "2025", "--json",
        "--iplos", str(EXAMPLES / "bergen-2025-iplos.xml"),
        "--ident", str(EXAMPLES / "bergen-2025-ident.xml"), *options,
    ]  # fmt: skip
    result = await asyncio.to_thread(
        CliRunner().invoke, parent, arguments, env={"KPRGW_API_KEY": api_key}
    )
    return result.exit_code, result.stdout


async def test_a_test_submission_reaches_kpr_validering_and_leaves_the_real_one_free(
    running: Running, world: DemoWorld
) -> None:
    api_key = world.api_keys["bergen"]

    code, output = await kprgw_annual_submit(running.url, api_key, "--environment", "validation")
    assert code == 0, output
    submitted: dict[str, Any] = json.loads(output)
    assert submitted["environment"] == "validation"
    # The real one, at once: the test (sending, or already answered) does not stand in its way.
    real = await submit_and_follow(running.client, api_key, "bergen")
    test = await follow(running.client, api_key, submitted["links"]["self"])

    for status, environment in ((test, "validation"), (real, "production")):
        assert status["environment"] == environment
        assert status["status"] == "acknowledged", status
        assert [m["msg_type"] for m in status["messages"]] == ["KPR_IPL", "KPR_IDE"]
        assert [m["state"] for m in status["messages"]] == ["acknowledged", "acknowledged"]
        assert all(m["receipt"]["status_code"] == 1 for m in status["messages"])
    assert real["replaces"] is None
    # Each pair went to its own receiver's queue, where that receiver answered it.
    assert sorted(running.to_receivers()) == [
        (KPR_QUEUE, "KPR_IDE"),
        (KPR_QUEUE, "KPR_IPL"),
        (KPR_VALIDERING_QUEUE, "KPR_IDE"),
        (KPR_VALIDERING_QUEUE, "KPR_IPL"),
    ]

    # The test, acknowledged, stands for KPR Validering's year only: another test needs replace.
    code, output = await kprgw_annual_submit(running.url, api_key, "--environment", "validation")
    assert code == EXIT_CONFLICT, output
    # And an environment the tenant may not send to is a usage error, naming the field.
    code, _ = await kprgw_annual_submit(running.url, api_key, "--environment", "communication-test")
    assert code == 2
