"""The event contract at the API: every valid kind and status is 202, every rule a notification
alone can break is 422 with the field and a reason, and no answer repeats a sent value."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.samples import correction, event, national_id
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.messages.iplos_kpr import EventKind
from kpr_gateway.tenancy import load_tenants
from tests.unit.intake.harness import intake_app

Notification = dict[str, Any]
Change = Callable[[Notification], None]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
async def client(world: DemoWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with intake_app(load_tenants(world.tenants_file), FakeAsyncRedis(), jwks_url=None) as (
        http,
        _,
        _,
    ):
        http.headers["Authorization"] = f"Bearer {world.api_keys['bergen']}"
        yield http


def original(seed: int, kind: EventKind = EventKind.SERVICE_START) -> Notification:
    return event(random.Random(seed), "4601", kind=kind)


def hidden_id(notification: Notification) -> str:
    """The person's national id written 6+5 with a space, as a careless EPJ might."""
    number: str = notification["person"]["national_id"]
    return f"{number[:6]} {number[6:]}"


def _set(field: str, value: Any) -> Change:
    def change(notification: Notification) -> None:
        notification[field] = value

    return change


def _drop(field: str) -> Change:
    def change(notification: Notification) -> None:
        del notification[field]

    return change


def _person(field: str, value: Any) -> Change:
    def change(notification: Notification) -> None:
        notification["person"][field] = value

    return change


def _correcting_itself(notification: Notification) -> None:
    notification.update(status="M", corrects=notification["event_id"])


def _id_in(field: str) -> Change:
    def change(notification: Notification) -> None:
        notification[field] = f"VEDTAK {hidden_id(notification)}"

    return change


def _id_in_user_number(notification: Notification) -> None:
    notification["person"]["user_number"] = notification["person"]["national_id"]


def _id_as_a_key(notification: Notification) -> None:
    notification[notification["person"]["national_id"]] = "1"


OTHER_ID = "6a1f0b52-6f0e-4c43-9a55-2f3c1e0d9b11"

# (change to a valid service_start, the field named, a word of the reason)
RULES: list[tuple[str, Change, str, str]] = [
    ("status-t", _set("status", "T"), "status", "not to be used yet"),
    ("status-t-with-corrects", lambda n: n.update(status="T", corrects=OTHER_ID), "status", "T"),
    ("m-without-corrects", _set("status", "M"), "corrects", "names its original"),
    ("c-without-corrects", _set("status", "C"), "corrects", "names its original"),
    ("n-with-corrects", _set("corrects", OTHER_ID), "corrects", "only a correction"),
    ("correcting-itself", _correcting_itself, "corrects", "itself"),
    ("no-provider", _set("kind", "provider_changed"), "provider_org_number", "required"),
    ("stop-from-no-stop-id", _set("kind", "temporary_stop_from"), "stop_id", "required"),
    ("stop-to-no-stop-id", _set("kind", "temporary_stop_to"), "stop_id", "required"),
    ("stop-id-on-a-start", _set("stop_id", "STOPP-1"), "stop_id", "only the temporary_stop"),
    ("unknown-kind", _set("kind", "service_paused"), "kind", "service_start"),
    ("fnr-short", _person("national_id", "1234567890"), "person.national_id", "11 digits"),
    ("type-9-with-fnr", _person("id_type", 9), "person.national_id", "ddmmyy"),
    ("type-10-with-fnr", _person("id_type", 10), "person.national_id", "12 digits"),
    ("type-4-refused", _person("id_type", 4), "person.id_type", "1, 2, 3, 9 or 10"),
    ("id-in-source-ref", _id_in("source_ref"), "source_ref", "national id"),
    ("id-in-service-id", _id_in("service_id"), "service_id", "national id"),
    ("id-in-user-number", _id_in_user_number, "person.user_number", "national id"),
    ("id-as-a-key", _id_as_a_key, "(event)", "not shown"),
    ("no-person", _drop("person"), "person", "required"),
    ("no-occurrence", _drop("occurrence_id"), "occurrence_id", "required"),
    ("nil-event-id", _set("event_id", "00000000-0000-0000-0000-000000000000"), "event_id", "nil"),
    ("date-digits", _set("event_date", "20260105"), "event_date", "YYYY-MM-DD"),
    ("naive-time", _set("registered_at", "2026-01-05T10:15:00"), "registered_at", "timezone"),
    ("service-type", _set("service_type", "99"), "service_type", "9151"),
    ("municipality", _set("municipality_number", "301"), "municipality_number", "pattern"),
    ("provider-form", _set("provider_org_number", "98765432"), "provider_org_number", "pattern"),
]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [rule[1:] for rule in RULES],
    ids=[rule[0] for rule in RULES],
)
async def test_each_rule_answers_422_with_its_field_and_no_values(
    client: httpx.AsyncClient, change: Change, field: str, reason: str
) -> None:
    notification = original(1)
    person = notification["person"]["national_id"]
    change(notification)
    response = await client.post("/v1/events", json=notification)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "invalid_event"
    assert [d for d in answer["details"] if d["field"] == field and reason in d["reason"]], answer
    for value in (person, person[:6], person[6:], notification["source_ref"], OTHER_ID):
        assert value not in response.text
    assert notification["service_id"] not in response.text


def every_kind_and_status() -> list[Notification]:
    """One original of each kind; an original with its M and another with its C; and an M
    whose original the gateway never saw (transform, not intake, asks the ledger)."""
    kinds = [original(10 + n, kind) for n, kind in enumerate(EventKind)]
    replaced, cancelled = original(20), original(21)
    rng = random.Random(1)
    return [
        *kinds,
        replaced,
        correction(rng, replaced, "M", event_date="2026-03-02"),
        cancelled,
        correction(rng, cancelled, "C"),
        correction(rng, original(22), "M"),
    ]


def _person_of_type(id_type: int, number: str, district: str | None = None) -> Notification:
    notification = original(30 + id_type)
    notification["person"].update(id_type=id_type, national_id=number)
    if district is not None:
        notification["person"]["district"] = district
    return notification


async def test_every_kind_and_status_is_accepted(client: httpx.AsyncClient) -> None:
    notifications = every_kind_and_status()
    assert {n["kind"] for n in notifications} == set(EventKind)
    assert {n["status"] for n in notifications} == {"N", "M", "C"}
    for notification in notifications:
        response = await client.post("/v1/events", json=notification)
        assert response.status_code == 202, response.text
        assert response.json()["event_id"] == notification["event_id"]


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        (1, national_id(random.Random(1))),
        (2, national_id(random.Random(2), day_offset=40)),
        (3, "83010112345"),
        (9, "170331"),
        (10, "123456789012"),
    ],
    ids=["fnr", "d-nummer", "h-nummer", "birth-date", "duf"],
)
async def test_every_id_type_in_its_form_is_accepted(
    client: httpx.AsyncClient, id_type: int, number: str
) -> None:
    # check digits are transform's to judge (per event, with a warning where the spec says)
    response = await client.post(
        "/v1/events", json=_person_of_type(id_type, number, district="460101")
    )
    assert response.status_code == 202, response.text


async def test_the_batch_answers_every_rule_per_event(client: httpx.AsyncClient) -> None:
    valid = [original(50), original(51, EventKind.PROVIDER_CHANGED)]
    broken = []
    for seed, (_, change, _, _) in enumerate(RULES, start=60):
        notification = original(seed)
        change(notification)
        broken.append(notification)
    response = await client.post("/v1/events/batch", json=[*valid, *broken[:8]])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 8)
    results = answer["results"]
    assert [r["status_code"] for r in results] == [202, 202] + [422] * 8
    for result, (_, _, field, reason) in zip(results[2:], RULES[:8], strict=True):
        assert result["status"] == "invalid"
        assert [e for e in result["errors"] if e.get("field") == field and reason in e["reason"]]
    text = response.text
    for notification in broken[:8]:
        assert notification["person"]["national_id"] not in text
        assert hidden_id(notification) not in text


async def test_ndjson_batch_with_a_hidden_id_is_refused_per_line(
    client: httpx.AsyncClient,
) -> None:
    good, bad = original(90), original(91)
    bad["source_ref"] = f"GERICA {hidden_id(bad)}"
    body = "\n".join(json.dumps(n) for n in (good, bad)) + "\n"
    response = await client.post(
        "/v1/events/batch", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200
    assert [r["status_code"] for r in response.json()["results"]] == [202, 422]
    assert hidden_id(bad) not in response.text
