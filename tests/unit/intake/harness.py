"""The intake app with OAuth2 on: the demo world's tenants plus OAuth clients, a local issuer,
the in-memory bus and a Redis (fakeredis in unit tests, the real one in integration tests).
Audit records are read back as the JSON lines ``setup_logging`` writes; what intake published
is read back by a consumer on the same in-memory broker."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI
from redis.asyncio import Redis

from kpr_gateway.cli.demo.world import DemoWorld
from kpr_gateway.intake.app import IntakeLimits, create_app
from kpr_gateway.intake.jwks import JwksCache, JwksPolicy
from kpr_gateway.intake.oauth import OAuthConfig, TokenVerifier
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.ledger import KeySpace, Ledger
from kpr_gateway.observability import setup_logging
from kpr_gateway.observability.logging import ServiceLogHandler
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import AcceptedEvent, EventChunk
from kpr_gateway.tenancy import TenantsFile, load_tenants
from tests.unit.intake.issuer import AUDIENCE, ISSUER

BERGEN_CLAIM = "964338531"  # HelseID style: the municipality's org number
TRONDHEIM_CLAIM = "942110464"
VENDOR_CLIENT = "helseid-client-gerica"  # one EPJ vendor's client, used by both municipalities
READER_CLIENT = "helseid-client-reader"

OAUTH = {
    "bergen": {
        "tenant_claim_value": BERGEN_CLAIM,
        "clients": [
            {"id": "gerica-bergen", "client_id": VENDOR_CLIENT, "rate_limit_per_second": 3},
            {"id": "reader-bergen", "client_id": READER_CLIENT, "scopes": ["read"]},
        ],
    },
    "trondheim": {
        "tenant_claim_value": TRONDHEIM_CLAIM,
        "clients": [{"id": "gerica-trondheim", "client_id": VENDOR_CLIENT}],
    },
}


def oauth_tenants_file(world: DemoWorld) -> Path:
    """The demo world's tenants file with the OAuth blocks above (next to it: same paths)."""
    document = yaml.safe_load(world.tenants_file.read_text())
    for tenant in document["tenants"]:
        tenant["oauth"] = OAUTH[tenant["id"]]
    path = world.tenants_file.with_name("tenants-oauth.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def oauth_tenants(world: DemoWorld) -> TenantsFile:
    return load_tenants(oauth_tenants_file(world))


@dataclass
class Published:
    """The chunks intake put on the events queue, as transform would read them."""

    chunks: list[EventChunk] = field(default_factory=list)
    broker: MemoryBroker | None = None

    async def record(self, delivery: Delivery) -> None:
        self.chunks.append(EventChunk.from_body(delivery.body))

    async def events(self) -> list[AcceptedEvent]:
        """Every event published so far, once the broker has delivered them all."""
        assert self.broker is not None, "pass the Published to intake_app"
        await self.broker.wait_settled()
        return [accepted for chunk in self.chunks for accepted in chunk.events]


class Clock:
    """A clock the test moves (also a frozen wall clock for the rate limiter)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def intake_app(
    tenants: TenantsFile,
    redis: Redis,
    *,
    jwks_url: str | None,
    key_prefix: str = "kprgw",
    clock: Clock | None = None,
    policy: JwksPolicy | None = None,
    per_second: int = 1000,
    limiter_clock: Callable[[], float] = time.time,
    published: Published | None = None,
    metrics: ServiceMetrics | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, JwksCache | None, Ledger]]:
    """The app as ``build`` wires it (tokens, key space), with an HTTP client on it;
    ``published`` collects what it publishes."""
    broker = MemoryBroker(delay_scale=0)
    bus = MemoryBus(service_name="intake", broker=broker)
    consumer = MemoryBus(service_name="transform", broker=broker)
    if published is not None:
        published.broker = broker
        consumer.subscribe(EVENTS, published.record)
    ledger = Ledger(redis, keys=KeySpace(key_prefix))
    http = httpx.AsyncClient()
    keys: JwksCache | None = None
    tokens: TokenVerifier | None = None
    if jwks_url is not None:
        config = OAuthConfig(issuer=ISSUER, audience=AUDIENCE, leeway_seconds=30)
        keys = JwksCache(
            jwks_url,
            client=http,
            algorithms=config.algorithms,
            policy=policy or JwksPolicy(min_refresh_seconds=0),
            clock=clock or Clock(),
        )
        tokens = TokenVerifier(config, keys)
    app: FastAPI = create_app(
        tenants=tenants,
        ledger=ledger,
        bus=bus,
        limiter=RateLimiter(redis, per_second=per_second, prefix=key_prefix, clock=limiter_clock),
        limits=IntakeLimits(max_batch_events=50, max_body_bytes=64 * 1024, chunk_events=10),
        metrics=metrics or ServiceMetrics("intake"),
        tokens=tokens,
        keys=KeySpace(key_prefix),
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")
    await bus.start()
    await consumer.start()
    try:
        yield client, keys, ledger
    finally:
        await client.aclose()
        await consumer.stop()
        await bus.stop()
        await http.aclose()


class LogLines:
    """Everything the service logged, as the JSON objects ``setup_logging`` writes."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def audit(self) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["logger"] == "kprgw.audit"]


@contextmanager
def captured_logs() -> Iterator[LogLines]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("intake", "INFO", json=True, stream=stream)
    try:
        yield LogLines(stream)
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
        assert isinstance(handler, ServiceLogHandler)
