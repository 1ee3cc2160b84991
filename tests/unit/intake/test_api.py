"""The intake API on the in-memory bus and fakeredis: answers, idempotency, limits, tenancy."""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.intake.app import IntakeLimits, create_app
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.intake.schemas import BatchResult
from kpr_gateway.ledger import EventState, Ledger
from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, Delivery, MemoryBroker, MemoryBus, PublishError
from kpr_gateway.pipeline.contracts import EventChunk
from kpr_gateway.tenancy import load_tenants
from tests.unit.intake.harness import Clock


class FlakyBus(MemoryBus):
    """The real in-memory bus, with a switch that makes the broker refuse publishes."""

    refuse = False

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, headers: Any = None
    ) -> None:
        if self.refuse:
            raise PublishError("broker did not confirm (test)")
        await super().publish(queue, body, message_id=message_id, headers=headers)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


class Intake:
    def __init__(
        self, client: httpx.AsyncClient, bus: FlakyBus, ledger: Ledger, metrics: ServiceMetrics
    ) -> None:
        self.client = client
        self.bus = bus
        self.ledger = ledger
        self.metrics = metrics
        self.chunks: list[EventChunk] = []

    async def record(self, delivery: Delivery) -> None:
        self.chunks.append(EventChunk.from_body(delivery.body))

    async def settled(self) -> None:
        await self.bus.wait_settled()

    def published_ids(self) -> list[str]:
        return [str(e.event_id) for chunk in self.chunks for e in chunk.events]


def auth(world: DemoWorld, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.api_keys[tenant]}"}


@pytest.fixture
async def intake(world: DemoWorld) -> AsyncIterator[Intake]:
    broker = MemoryBroker(delay_scale=0)
    bus = FlakyBus(service_name="intake", broker=broker)
    consumer = MemoryBus(service_name="transform", broker=broker)
    ledger = Ledger(FakeAsyncRedis())
    metrics = ServiceMetrics("intake")
    app = create_app(
        tenants=load_tenants(world.tenants_file),
        ledger=ledger,
        bus=bus,
        # a frozen clock: the bucket never refills, however slowly a busy machine runs the test
        limiter=RateLimiter(ledger.redis, per_second=20, clock=Clock()),
        limits=IntakeLimits(max_batch_events=5, max_body_bytes=4096, chunk_events=2),
        metrics=metrics,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")
    harness = Intake(client, bus, ledger, metrics)
    consumer.subscribe(EVENTS, harness.record)
    await bus.start()
    await consumer.start()
    yield harness
    await client.aclose()
    await consumer.stop()
    await bus.stop()


def one(rng_seed: int = 1, municipality: str = "4601", **changes: Any) -> dict[str, Any]:
    body = event(random.Random(rng_seed), municipality)
    body.update(changes)
    return body


async def test_an_accepted_event_is_in_the_ledger_and_published(
    intake: Intake, world: DemoWorld
) -> None:
    body = one()
    response = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["event_id"] == body["event_id"]
    assert (answer["status"], answer["repeat"]) == ("received", False)
    assert re.fullmatch(r"[0-9a-f]{32}", answer["trace_id"])
    await intake.settled()
    assert intake.published_ids() == [body["event_id"]]
    [chunk] = intake.chunks
    assert chunk.tenant_id == "bergen"
    [accepted] = chunk.events
    assert accepted.event == Notification.model_validate(body)
    assert accepted.event.person.national_id == body["person"]["national_id"]
    assert accepted.client_id == "bergen-epj"  # the caller's client, whose EPJ names the message
    record = await intake.ledger.get_event("bergen", body["event_id"])
    assert record is not None
    assert (record.state, record.accepted) == (EventState.RECEIVED, True)


async def test_a_repeat_answers_the_same_and_is_not_published_again(
    intake: Intake, world: DemoWorld
) -> None:
    body = one()
    first = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    again = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["repeat"] is True
    assert again.json()["event_id"] == first.json()["event_id"]
    await intake.settled()
    assert intake.published_ids() == [body["event_id"]]

    other = dict(body, service_type="4" if body["service_type"] != "4" else "15")
    conflict = await intake.client.post("/v1/events", json=other, headers=auth(world, "bergen"))
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflict"


async def test_invalid_event_is_422_with_field_reasons_and_no_personal_data(
    intake: Intake, world: DemoWorld
) -> None:
    body = one()
    body["event_date"] = "soon"
    body["person"] = dict(body["person"], national_id="1234567890")
    response = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    assert response.status_code == 422
    answer = response.json()
    fields = {detail["field"] for detail in answer["details"]}
    assert {"event_date", "person.national_id"} <= fields
    assert "1234567890" not in response.text
    await intake.settled()
    assert intake.chunks == []


@pytest.mark.parametrize(
    ("payload", "status"),
    [(b"{not json", 400), (b"\xff\xfe\x00", 400), (b"[" * 100_000 + b"]" * 100_000, 413)],
)
async def test_bad_bodies_get_clear_errors(
    intake: Intake, world: DemoWorld, payload: bytes, status: int
) -> None:
    headers = {**auth(world, "bergen"), "Content-Type": "application/json"}
    response = await intake.client.post("/v1/events", content=payload, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] in {"bad_request", "payload_too_large"}


async def test_authentication_and_tenant_boundary(intake: Intake, world: DemoWorld) -> None:
    body = one()
    assert (await intake.client.post("/v1/events", json=body)).status_code == 401
    wrong = {"Authorization": "Bearer not-a-key"}
    response = await intake.client.post("/v1/events", json=body, headers=wrong)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"

    accepted = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    assert accepted.status_code == 202
    own = await intake.client.get(f"/v1/events/{body['event_id']}", headers=auth(world, "bergen"))
    assert own.status_code == 200
    assert own.json()["event"]["status"] == "received"
    foreign = await intake.client.get(
        f"/v1/events/{body['event_id']}", headers=auth(world, "trondheim")
    )
    assert foreign.status_code == 404
    missing = await intake.client.get(
        "/v1/messages/6f1c2a8e-0000-4000-8000-000000000000", headers=auth(world, "bergen")
    )
    assert missing.status_code == 404


async def test_batch_answers_per_event(intake: Intake, world: DemoWorld) -> None:
    good = [one(seed) for seed in (10, 11, 12)]
    bad = one(13, event_date="2026-13-01")
    not_an_object = ["just", "a", "list"]
    response = await intake.client.post(
        "/v1/events/batch", json=[*good, bad, not_an_object], headers=auth(world, "bergen")
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (3, 2)
    codes = [(r["index"], r["status_code"]) for r in answer["results"]]
    assert codes == [(0, 202), (1, 202), (2, 202), (3, 422), (4, 422)]
    assert answer["results"][3]["event_id"] == bad["event_id"]
    # Written without the model, the answer is still exactly what BatchResult documents.
    documented = BatchResult.model_validate(answer).model_dump(mode="json")
    assert answer == documented
    conflicting = {**good[0], "service_id": "TJ-OTHER"}
    again = await intake.client.post(
        "/v1/events/batch", json=[good[1], conflicting], headers=auth(world, "bergen")
    )
    results = again.json()["results"]
    assert [(r["status_code"], r["status"], r["repeat"]) for r in results] == [
        (202, "received", True),
        (409, "conflict", False),
    ]
    assert results[1]["errors"] == [{"reason": "submitted before with other content"}]
    await intake.settled()
    assert sorted(intake.published_ids()) == sorted(e["event_id"] for e in good)
    assert len(intake.chunks) == 2  # chunk_events=2


async def test_ndjson_batch_and_limits(intake: Intake, world: DemoWorld) -> None:
    events = [one(seed) for seed in (20, 21)]
    ndjson = "\n".join(json.dumps(e) for e in events) + "\n\n{broken\n"
    headers = {**auth(world, "bergen"), "Content-Type": "application/x-ndjson"}
    response = await intake.client.post("/v1/events/batch", content=ndjson, headers=headers)
    assert response.status_code == 200
    assert [r["status_code"] for r in response.json()["results"]] == [202, 202, 422]

    too_many = [one(seed) for seed in range(30, 36)]
    response = await intake.client.post(
        "/v1/events/batch", json=too_many, headers=auth(world, "bergen")
    )
    assert response.status_code == 413


async def test_rate_limit_answers_429(intake: Intake, world: DemoWorld) -> None:
    statuses = [
        (
            await intake.client.get(
                "/v1/events/6f1c2a8e-0000-4000-8000-000000000001", headers=auth(world, "trondheim")
            )
        ).status_code
        for _ in range(25)
    ]
    assert 429 in statuses
    assert statuses[0] == 404


async def test_broker_down_is_503_and_a_retry_publishes(intake: Intake, world: DemoWorld) -> None:
    body = one(40)
    intake.bus.refuse = True
    down = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    assert down.status_code == 503
    assert down.headers["retry-after"] == "1"
    record = await intake.ledger.get_event("bergen", body["event_id"])
    assert record is not None
    assert not record.accepted

    intake.bus.refuse = False
    retried = await intake.client.post("/v1/events", json=body, headers=auth(world, "bergen"))
    assert (retried.status_code, retried.json()["repeat"]) == (202, True)
    await intake.settled()
    assert intake.published_ids() == [body["event_id"]]


async def test_the_api_has_no_health_or_metrics_routes(intake: Intake, world: DemoWorld) -> None:
    # They are on the ops port (the runtime's), which only the monitoring namespace reaches.
    for path in ("/healthz", "/readyz", "/status", "/metrics"):
        assert (await intake.client.get(path)).status_code == 404, path
    await intake.client.post("/v1/events", json=one(50), headers=auth(world, "bergen"))
    accepted = {"outcome": "accepted", "tenant": "bergen"}
    assert intake.metrics.registry.get_sample_value("kprgw_intake_events_total", accepted) == 1
    spec = (await intake.client.get("/openapi.json")).json()
    assert {"/v1/events", "/v1/events/batch", "/v1/events/{event_id}"} <= set(spec["paths"])
    assert "/metrics" not in spec["paths"]


def _request_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    content: dict[str, Any] = spec["paths"][path]["post"]["requestBody"]["content"]
    schema: dict[str, Any] = content["application/json"]["schema"]
    return schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_openapi_documents_the_notification_for_both_submit_routes(
    intake: Intake,
) -> None:
    spec = (await intake.client.get("/openapi.json")).json()
    single = _request_schema(spec, "/v1/events")
    assert single["title"] == "Notification"
    assert set(single["required"]) >= {"event_id", "status", "kind", "person"}
    assert {"corrects", "provider_org_number", "stop_id", "source_ref"} <= set(single["properties"])
    assert _request_schema(spec, "/v1/events/batch") == {"type": "array", "items": single}

    person = spec["components"]["schemas"]["Person"]
    assert {"national_id", "id_type", "user_number", "district"} <= set(person["properties"])
    assert "$defs" not in json.dumps(spec)  # every nested model is in the components
    refs = set(_refs(spec))
    assert "#/components/schemas/Person" in refs
    for ref in refs:  # every $ref in the document resolves
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"], ref
    # the document is built once and served again unchanged
    assert (await intake.client.get("/openapi.json")).json() == spec


def test_world_files_exist(world: DemoWorld) -> None:
    assert isinstance(world.tenants_file, Path)
    assert world.tenants_file.is_file()
