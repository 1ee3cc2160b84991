"""Property-based: whatever schemathesis sends that fits (or nearly fits) the intake OpenAPI,
intake never answers with a 5xx. Runs the real app in-process through schemathesis' ASGI
client, authenticated with a valid API key, on fakeredis and the in-memory bus."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fakeredis import FakeAsyncRedis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.intake.app import IntakeLimits, create_app
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.ledger import Ledger
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import MemoryBroker, MemoryBus
from kpr_gateway.tenancy import load_tenants

# Kept small so the whole file runs well under a minute on a shared machine: generating
# events from their JSON schema is what takes the time (about a quarter second each).
MAX_EXAMPLES = {"/v1/events": 20, "/v1/events/batch": 5}
DEFAULT_EXAMPLES = 30


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def api_key(world: DemoWorld) -> str:
    return world.api_keys["bergen"]


@pytest.fixture(scope="module")
def intake_schema(world: DemoWorld) -> Any:
    ledger = Ledger(FakeAsyncRedis())
    # Started here, used from schemathesis' own event loop: a bus without subscriptions
    # starts no tasks, and publishing only appends to the broker's queues.
    bus = MemoryBus(service_name="intake", broker=MemoryBroker(delay_scale=0))
    asyncio.run(bus.start())
    app = create_app(
        tenants=load_tenants(world.tenants_file),
        ledger=ledger,
        bus=bus,
        limiter=RateLimiter(ledger.redis, per_second=1_000_000),
        limits=IntakeLimits(max_batch_events=20, max_body_bytes=256 * 1024, chunk_events=5),
        metrics=ServiceMetrics("intake"),
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [
    ("POST", "/v1/events"),
    ("POST", "/v1/events/batch"),
    ("GET", "/v1/events/{event_id}"),
    ("GET", "/v1/messages/{msg_id}"),
    ("POST", "/v1/annual-submissions"),
    ("GET", "/v1/annual-submissions"),
    ("GET", "/v1/annual-submissions/{submission_id}"),
]


# schemathesis' lazy pytest integration does not run on pytest 9 (it rewrites a node id
# pytest no longer has), so each operation's hypothesis strategy is driven directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_server_errors(
    intake_schema: Any, api_key: str, method: str, path: str, mode: GenerationMode
) -> None:
    strategy = intake_schema[path][method].as_strategy(generation_mode=mode)
    statuses: set[int] = set()

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES.get(path, DEFAULT_EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def never_5xx(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {api_key}"})
        statuses.add(response.status_code)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])

    never_5xx()
    assert statuses  # something was sent and answered


def test_the_schema_covers_every_public_route(intake_schema: Any) -> None:
    operations = {
        (op.ok().method.upper(), op.ok().path) for op in intake_schema.get_all_operations()
    }
    assert operations == set(OPERATIONS)


def test_world_is_on_disk(world: DemoWorld) -> None:
    assert isinstance(world.tenants_file, Path)
