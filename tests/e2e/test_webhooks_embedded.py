"""The embedded mode (`kprgw demo`) with a webhook configured for one EPJ client: the AppRecs
of its events reach a real local receiver, signed, and the event view shows the delivery; the
other tenant's client has none, and its notices are acknowledged all the same."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kpr_gateway.cli.demo.command import SETTLED
from kpr_gateway.cli.demo.embedded import EmbeddedGateway
from kpr_gateway.cli.demo.samples import sample_set
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.pipeline import RECEIPTS
from tests.support.webhook_world import Receiver, verify_as_an_epj_would

SECRET = b"demo-webhook-secret-of-32-bytes-at-least"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


def with_webhook(world: DemoWorld, receiver: Receiver) -> str:
    """Give bergen's EPJ client a webhook (plain http: the demo allows it) and its secret."""
    (world.directory / "bergen-webhook.secret").write_bytes(SECRET)
    document = yaml.safe_load(world.tenants_file.read_text())
    [bergen] = [t for t in document["tenants"] if t["id"] == "bergen"]
    client = bergen["epj_clients"][0]
    client["webhook"] = {"url": receiver.url(client["id"]), "secret_file": "bergen-webhook.secret"}
    world.tenants_file.write_text(yaml.safe_dump(document))
    return str(client["id"])


def settled_and_told(view: dict[str, Any]) -> bool:
    """The event has its final status and, if it went in a message, its client was told."""
    if view["event"]["status"] not in SETTLED:
        return False
    if not view["event"]["msg_ids"]:  # suppressed, rejected: no message, no receipt
        return True
    deliveries = [d for m in view["webhooks"] for d in m["deliveries"]]
    return len(deliveries) == len(view["webhooks"]) and all(
        d["state"] == "delivered" for d in deliveries
    )


async def test_the_demo_delivers_receipts_to_a_configured_webhook(
    tmp_path: Path, receiver: Receiver
) -> None:
    world = create_world(tmp_path / "world")
    client_id = with_webhook(world, receiver)
    gateway = EmbeddedGateway(world, port=0)
    await gateway.start()
    try:
        posted: dict[str, list[str]] = {}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as http:
            for tenant, municipality in (("bergen", "4601"), ("trondheim", "5001")):
                headers = {"Authorization": f"Bearer {world.api_keys[tenant]}"}
                events = sample_set(random.Random(tenant), municipality, 3)
                answer = await http.post("/v1/events/batch", json=events, headers=headers)
                results = answer.json()["results"]
                posted[tenant] = [r["event_id"] for r in results if r["status_code"] == 202]
            bergen = {"Authorization": f"Bearer {world.api_keys['bergen']}"}
            views: dict[str, dict[str, Any]] = {}
            async with asyncio.timeout(60):
                while True:
                    for event_id in posted["bergen"]:
                        answer = await http.get(f"/v1/events/{event_id}", headers=bergen)
                        views[event_id] = answer.json()
                    delivered = [v for v in views.values() if settled_and_told(v)]
                    if len(delivered) == len(views):
                        break
                    await asyncio.sleep(0.2)
            await gateway.bus_broker.wait_settled()
        assert gateway.bus_broker.depth(RECEIPTS) == 0
        assert gateway.bus_broker.parked(RECEIPTS) == []
        assert receiver.requests, "no receipt reached the webhook"
        announced: set[str] = set()
        for request in receiver.requests:
            assert request.path == f"/hooks/{client_id}"
            assert verify_as_an_epj_would(SECRET, request.headers, request.body, now=time.time())
            body = request.json()
            assert (body["tenant_id"], body["client_id"]) == ("bergen", client_id)
            announced |= {e["event_id"] for e in body["events"]}
        sent = {e for e, v in views.items() if v["event"]["msg_ids"]}
        assert announced == sent
        assert not announced & set(posted["trondheim"])
    finally:
        await gateway.stop()
