"""Hostile request bodies and headers: a clear 4xx every time, never a 5xx, never an echo."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.tenancy import load_tenants
from tests.unit.intake.harness import intake_app

BODY_LIMIT = 64 * 1024  # the harness's max_body_bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
async def client(world: DemoWorld) -> AsyncIterator[httpx.AsyncClient]:
    tenants = load_tenants(world.tenants_file)
    async with intake_app(tenants, FakeAsyncRedis(), jwks_url=None) as (http, _, _):
        http.headers["Authorization"] = f"Bearer {world.api_keys['bergen']}"
        yield http


def with_value(field: str, raw_json: str) -> bytes:
    """A valid event whose ``field`` (``person.x``: the person's) is replaced by ``raw_json``
    as written."""
    body = event(random.Random(3), "4601")
    target = body["person"] if field.startswith("person.") else body
    target[field.removeprefix("person.")] = "__HOSTILE__"
    return json.dumps(body).replace('"__HOSTILE__"', raw_json).encode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"event_id": ' + b"7" * 5000 + b"}", 400),  # beyond Python's int conversion limit
        (b"[" * 5000 + b"]" * 5000, 400),  # deeper than the JSON scanner goes
        (b'{"a": "\xc3\x28"}', 400),  # invalid UTF-8 sequence
        (b"\xef\xbb\xbf{}", 400),  # a byte-order mark is not JSON
        (with_value("service_type", "NaN"), 422),
        (with_value("event_date", "1e999"), 422),
        (with_value("registered_at", "-1e999"), 422),
        (with_value("person.id_type", "1.0e308"), 422),
        (with_value("person.national_id", "[" * 900 + "]" * 900), 422),  # deep, but parseable
        (with_value("extra", '{"__proto__": {"admin": true}}'), 422),
        (with_value("person", '{"__proto__": {"admin": true}}'), 422),
        (b"null", 422),
        (b'"' + b"a" * 60_000 + b'"', 422),
    ],
    ids=[
        "huge-int",
        "nesting",
        "bad-utf8",
        "bom",
        "nan",
        "inf",
        "minus-inf",
        "huge-float",
        "deep-field",
        "proto",
        "proto-person",
        "null",
        "long-string",
    ],
)
async def test_hostile_bodies_get_a_clear_4xx(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.post(
        "/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text[:300]
    assert response.json()["error"] in {"bad_request", "invalid_event"}
    assert len(response.content) < 2000  # the input is never echoed back


async def test_a_streamed_body_without_length_is_cut_at_the_limit(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b" " * 1024

    response = await client.post("/v1/events", content=chunks())
    assert response.status_code == 413
    assert sent < 1000  # reading stopped soon after the limit, not at the end
    assert sent * 1024 <= BODY_LIMIT + 2 * 1024


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/events/batch",
        content=b"[]" + b" " * BODY_LIMIT,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer " + b"A" * 100_000,
        b"Bearer " + b"a." * 5000 + b"b",
        b"Bearer a.b.c",
        "Bearer \u00e6\u00f8\u00e5".encode(),  # UTF-8 bytes, read by the server as latin-1
        b"bearer",
        b"Bearer     ",
    ],
    ids=["long", "many-dots", "jwt-shaped", "non-ascii", "scheme-only", "blank"],
)
async def test_hostile_authorization_headers_are_401(
    client: httpx.AsyncClient, authorization: bytes
) -> None:
    response = await client.get(
        "/v1/events/6f1c2a8e-0000-4000-8000-000000000001",
        headers={b"Authorization": authorization},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/events", b'{"status": "N", "status": "C"}', "'status'"),
        ("/v1/events", b'{"person": {"id_type": 1, "id_type": 2}}', "'id_type'"),
        # a repeated key that could be a national id is not named
        ("/v1/events/batch", b'[{"25019521713": 1, "25019521713": 2}]', "a key"),
    ],
    ids=["top-level", "nested", "id-shaped"],
)
async def test_repeated_json_keys_are_refused_by_name(
    client: httpx.AsyncClient, path: str, body: bytes, named: str
) -> None:
    """The json module keeps the last of two equal keys: a body that says one thing to us and
    another to a proxy or log reader. Refused, naming the key (when it is field-like)."""
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    answer = response.json()
    assert response.status_code == 400, response.text[:300]
    assert answer["error"] == "bad_request"
    assert f"{named} appears twice" in answer["message"]
    assert "25019521713" not in response.text


@pytest.mark.parametrize(
    "event_id", ["25019521713", "250195-21713", "not-a-uuid", "6f1c2a8e-0000-4000-8000-00000000000"]
)
async def test_a_bad_path_parameter_is_answered_without_echo(
    client: httpx.AsyncClient, event_id: str
) -> None:
    response = await client.get(f"/v1/events/{event_id}")
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert answer["details"]
    assert answer["details"][0]["field"] == "path.event_id"
    assert event_id not in response.text
