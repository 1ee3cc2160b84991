"""Audit records for API-key clients: refusals, and reads of another tenant's ids (404)."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import yaml
from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.ledger import BatchMessage, Ledger, NewAnnualSubmission, NewEvent
from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.tenancy import TenantsFile, load_tenants
from tests.unit.intake.harness import LogLines, captured_logs, intake_app

READ_ONLY_KEY = "kprgw_read-only-test-key-0123456789abcdefghij"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def tenants(world: DemoWorld) -> TenantsFile:
    """The demo tenants plus a read-only client for bergen."""
    document = yaml.safe_load(world.tenants_file.read_text())
    document["tenants"][0]["epj_clients"].append(
        {
            "id": "bergen-dashboard",
            "api_key_sha256": hashlib.sha256(READ_ONLY_KEY.encode()).hexdigest(),
            "scopes": ["read"],
        }
    )
    path = world.tenants_file.with_name("tenants-audit.yaml")
    path.write_text(yaml.safe_dump(document))
    return load_tenants(path)


@dataclass
class Api:
    client: httpx.AsyncClient
    ledger: Ledger
    logs: LogLines
    world: DemoWorld

    def key(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.api_keys[tenant]}"}


@pytest.fixture
async def api(tenants: TenantsFile, world: DemoWorld) -> AsyncIterator[Api]:
    async with intake_app(tenants, FakeAsyncRedis(), jwks_url=None, key_prefix="kp") as (
        client,
        _,
        ledger,
    ):
        with captured_logs() as logs:
            yield Api(client, ledger, logs, world)


async def test_reading_another_tenant_s_event_is_404_and_audited(api: Api) -> None:
    body = event(random.Random(1), "4601")
    assert (await api.client.post("/v1/events", json=body, headers=api.key("bergen"))).is_success
    foreign = await api.client.get(f"/v1/events/{body['event_id']}", headers=api.key("trondheim"))
    nowhere = await api.client.get(f"/v1/events/{uuid.uuid4()}", headers=api.key("trondheim"))
    assert (foreign.status_code, nowhere.status_code) == (404, 404)
    # No oracle: the two answers differ only in the id they name.
    assert foreign.json()["error"] == nowhere.json()["error"] == "not_found"
    assert set(foreign.json()) == set(nowhere.json())
    [record] = api.logs.audit()
    assert record == record | {
        "audit_event": "cross_tenant_read",
        "outcome": "denied",
        "level": "WARNING",
        "tenant": "trondheim",
        "client": "trondheim-epj",
        "auth_method": "api_key",
        "owner_tenant": "bergen",
        "resource": "event",
        "resource_id": body["event_id"],
        "route": "/v1/events/{event_id}",
        "http_method": "GET",
        "service": "intake",
    }
    assert body["person"]["national_id"] not in api.logs.text


async def test_reading_another_tenant_s_message_is_404_and_audited(api: Api) -> None:
    event_id, msg_id = str(uuid.uuid4()), str(uuid.uuid4())
    await api.ledger.register_events("bergen", [NewEvent(event_id, "h")], trace_id=None)
    commit = await api.ledger.commit_batch(
        "bergen",
        batch_id=str(uuid.uuid4()),
        event_ids=[event_id],
        messages=[BatchMessage(msg_id, "KPR_IPL", b"<MsgHead/>")],
        trace_id=None,
        traceparent=None,
    )
    assert commit.committed
    assert (await api.client.get(f"/v1/messages/{msg_id}", headers=api.key("bergen"))).is_success
    foreign = await api.client.get(f"/v1/messages/{msg_id}", headers=api.key("trondheim"))
    assert foreign.status_code == 404
    [record] = api.logs.audit()
    assert (record["resource"], record["resource_id"], record["owner_tenant"]) == (
        "message",
        msg_id,
        "bergen",
    )


async def test_reading_another_tenant_s_annual_submission_is_404_and_audited(api: Api) -> None:
    submission_id = str(uuid.uuid4())
    await api.ledger.annual.record(
        "bergen",
        NewAnnualSubmission(
            submission_id=submission_id,
            year=2025,
            environment="validation",
            report={"sendable": False, "persons": 1, "findings": []},
            persons=1,
            trace_id=None,
            traceparent=None,
            messages=None,
        ),
    )
    route = "/v1/annual-submissions/{submission_id}"
    own = await api.client.get(f"/v1/annual-submissions/{submission_id}", headers=api.key("bergen"))
    assert own.status_code == 200
    assert api.logs.audit() == []

    foreign = await api.client.get(
        f"/v1/annual-submissions/{submission_id}", headers=api.key("trondheim")
    )
    nowhere = await api.client.get(
        f"/v1/annual-submissions/{uuid.uuid4()}", headers=api.key("trondheim")
    )
    assert (foreign.status_code, nowhere.status_code) == (404, 404)
    # No oracle: the two answers differ only in the id they name.
    assert foreign.json()["error"] == nowhere.json()["error"] == "not_found"
    assert foreign.json()["message"].replace(submission_id, "") == nowhere.json()[
        "message"
    ].replace(nowhere.url.path.rsplit("/", 1)[1], "")
    [record] = api.logs.audit()
    assert record == record | {
        "audit_event": "cross_tenant_read",
        "outcome": "denied",
        "level": "WARNING",
        "tenant": "trondheim",
        "client": "trondheim-epj",
        "auth_method": "api_key",
        "owner_tenant": "bergen",
        "resource": "annual_submission",
        "resource_id": submission_id,
        "route": route,
        "http_method": "GET",
        "service": "intake",
    }


async def test_missing_ids_and_own_reads_are_not_audited(api: Api) -> None:
    await api.client.get(f"/v1/events/{uuid.uuid4()}", headers=api.key("bergen"))
    await api.client.get(f"/v1/messages/{uuid.uuid4()}", headers=api.key("bergen"))
    await api.client.get(f"/v1/annual-submissions/{uuid.uuid4()}", headers=api.key("bergen"))
    assert api.logs.audit() == []


async def test_failed_authentication_is_audited_without_the_credential(api: Api) -> None:
    await api.client.post("/v1/events", json={})
    await api.client.post("/v1/events", json={}, headers={"Authorization": "Basic dXNlcg=="})
    await api.client.get(
        f"/v1/events/{uuid.uuid4()}", headers={"Authorization": "Bearer kprgw_guessed"}
    )
    records = api.logs.audit()
    assert [(r["reason"], r["route"], r["http_method"]) for r in records] == [
        ("no_credentials", "/v1/events", "POST"),
        ("no_credentials", "/v1/events", "POST"),
        ("unknown_api_key", "/v1/events/{event_id}", "GET"),
    ]
    assert "kprgw_guessed" not in api.logs.text
    assert "dXNlcg==" not in api.logs.text


async def test_a_missing_scope_is_403_and_audited(api: Api) -> None:
    headers = {"Authorization": f"Bearer {READ_ONLY_KEY}"}
    response = await api.client.post(
        "/v1/events", json=event(random.Random(2), "4601"), headers=headers
    )
    assert response.status_code == 403
    assert (await api.client.get(f"/v1/events/{uuid.uuid4()}", headers=headers)).status_code == 404
    [record] = api.logs.audit()
    assert (record["audit_event"], record["reason"], record["client"], record["scope"]) == (
        "access_denied",
        "missing_scope",
        "bergen-dashboard",
        "submit",
    )
    assert READ_ONLY_KEY not in api.logs.text


async def test_audit_records_are_counted(tenants: TenantsFile) -> None:
    metrics = ServiceMetrics("intake")
    async with intake_app(tenants, FakeAsyncRedis(), jwks_url=None, metrics=metrics) as (
        client,
        _,
        _,
    ):
        await client.post("/v1/events", json={})
    failed = {"event": "authentication_failed"}
    assert metrics.registry.get_sample_value("kprgw_intake_audit_total", failed) == 1.0
