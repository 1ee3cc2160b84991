"""The security boundary on the real Redis: the shared rate limiter (its Lua script, several
intake replicas at once), and OAuth2 with cross-tenant audit over the real ledger keys."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.intake.errors import RateLimitedError
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.tenancy import TenantsFile
from tests.unit.intake.harness import (
    BERGEN_CLAIM,
    TRONDHEIM_CLAIM,
    VENDOR_CLIENT,
    Clock,
    Published,
    captured_logs,
    intake_app,
    oauth_tenants,
)
from tests.unit.intake.issuer import IssuerKey, JwksServer, claims, rsa_key, token

KEY = IssuerKey("it-key", rsa_key("integration"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def tenants(world: DemoWorld) -> TenantsFile:
    return oauth_tenants(world)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"test-sec-{uuid.uuid4().hex[:8]}"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}:*")]
    if keys:
        await redis.delete(*keys)


async def test_replicas_share_one_bucket_and_never_overgrant(redis: Redis, prefix: str) -> None:
    """Three replicas hammer one client at once: the script is atomic, so exactly the
    bucket's size passes (the clock is frozen: no refill during the test)."""
    now = 1_750_000_000.0
    replicas = [RateLimiter(redis, per_second=25, prefix=prefix, clock=lambda: now) for _ in "abc"]

    async def attempt(limiter: RateLimiter) -> bool:
        try:
            await limiter.check("gerica")
        except RateLimitedError:
            return False
        return True

    results = await asyncio.gather(*(attempt(replicas[i % 3]) for i in range(90)))
    assert sum(results) == 25
    # The TTL first: a scan over a Redis that holds many keys can outlast it.
    assert 0 < await redis.pttl(f"{prefix}:ratelimit:gerica") <= 2000
    assert await redis.keys(f"{prefix}:*") == [f"{prefix}:ratelimit:gerica".encode()]


async def test_refill_on_the_real_clock(redis: Redis, prefix: str) -> None:
    limiter = RateLimiter(redis, per_second=20, prefix=prefix)

    async def attempt() -> bool:
        try:
            await limiter.check("visma")
        except RateLimitedError:
            return False
        return True

    # At once (one call for the waiting group), so no token comes back meanwhile.
    assert sum(await asyncio.gather(*(attempt() for _ in range(21)))) == 20
    emptied = time.monotonic()
    await asyncio.sleep(0.3)  # ~6 tokens back at 20 per second
    passed = 0
    for _ in range(15):
        if not await attempt():
            break
        passed += 1
    # What the real clock gave back, also on a busy machine that oversleeps.
    refilled = (time.monotonic() - emptied) * 20
    assert 4 <= passed <= refilled + 1


async def test_tokens_rate_limits_and_cross_tenant_audit_on_real_redis(
    tenants: TenantsFile, redis: Redis, prefix: str
) -> None:
    async with JwksServer().running() as jwks:
        jwks.publish(KEY)
        frozen = Clock()  # the limiter's clock: no refill during the test
        published = Published()
        async with intake_app(
            tenants,
            redis,
            jwks_url=jwks.url,
            key_prefix=prefix,
            limiter_clock=frozen,
            published=published,
        ) as (client, _, ledger):
            bergen = token(KEY, claims(tenant=BERGEN_CLAIM, client=VENDOR_CLIENT))
            trondheim = token(KEY, claims(tenant=TRONDHEIM_CLAIM, client=VENDOR_CLIENT))
            body = event(random.Random(1), "4601")
            with captured_logs() as logs:
                submitted = await client.post(
                    "/v1/events", json=body, headers={"Authorization": f"Bearer {bergen}"}
                )
                assert submitted.status_code == 202
                assert await ledger.get_event("bergen", body["event_id"]) is not None
                [accepted] = await published.events()
                assert accepted.event.person.national_id == body["person"]["national_id"]
                assert accepted.client_id == "gerica-bergen"
                foreign = await client.get(
                    f"/v1/events/{body['event_id']}",
                    headers={"Authorization": f"Bearer {trondheim}"},
                )
                assert foreign.status_code == 404
                # gerica-bergen may make 3 requests per second (tenants file): 1 used above.
                statuses = [
                    (
                        await client.get(
                            f"/v1/events/{body['event_id']}",
                            headers={"Authorization": f"Bearer {bergen}"},
                        )
                    ).status_code
                    for _ in range(4)
                ]
            assert statuses == [200, 200, 429, 429]
            [record] = logs.audit()
            assert (record["audit_event"], record["owner_tenant"], record["tenant"]) == (
                "cross_tenant_read",
                "bergen",
                "trondheim",
            )
            assert body["person"]["national_id"] not in logs.text
            limiter_keys = {k async for k in redis.scan_iter(match=f"{prefix}:ratelimit:*")}
            assert limiter_keys == {
                f"{prefix}:ratelimit:gerica-bergen".encode(),
                f"{prefix}:ratelimit:gerica-trondheim".encode(),
            }
