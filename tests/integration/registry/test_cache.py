"""CachedRegistry on real Redis in front of the client and the simulator's registry: hits,
misses, freshness, stale answers during an outage, unreadable entries, Redis trouble."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kpr_gateway.registry import (
    AddressRegistryClient,
    CachedRegistry,
    Entry,
    Operation,
    PartyNotFoundError,
    RegistryAuthenticationError,
    RegistryUnavailableError,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage, SimulatedRegistry
from tests.unit.registry.support import (
    KPR_VALIDATION,
    client_of,
    registry_app,
    standard_registry,
)

PARTY = Operation.GET_COMMUNICATION_PARTY_DETAILS
ENCRYPTION = Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION
SIGNING = Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE
TTL = timedelta(minutes=10)


class Clock:
    """Time the cache sees; Redis keeps its own (expiry is checked separately)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def simulated(pki: DevPki) -> SimulatedRegistry:
    return standard_registry(pki)


async def test_miss_then_hit(
    simulated: SimulatedRegistry, redis: Redis, prefix: str, clock: Clock
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, ttl=TTL, key_prefix=prefix, clock=clock)
        first = await cache.get_communication_party_details(KPR_VALIDATION)
        clock.now += TTL.total_seconds() - 1
        second = await cache.get_communication_party_details(int(KPR_VALIDATION))

    assert first == second
    assert first.async_queue == f"{KPR_VALIDATION}_async"
    assert simulated.requests[PARTY] == 1
    assert await redis.exists(cache.key(Entry.PARTY, KPR_VALIDATION)) == 1


async def test_certificates_are_cached_as_der_with_a_redis_expiry(
    pki: DevPki, simulated: SimulatedRegistry, redis: Redis, prefix: str, clock: Clock
) -> None:
    stale_for = timedelta(days=1)
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(
            client, redis, ttl=TTL, stale_for=stale_for, key_prefix=prefix, clock=clock
        )
        for _ in range(2):
            encryption = await cache.get_certificate_details_for_encryption(KPR_VALIDATION)
            signing = await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    fhi = pki.party("fhi")
    assert encryption == fhi.encryption.certificate
    assert signing == fhi.signing.certificate
    assert (simulated.requests[ENCRYPTION], simulated.requests[SIGNING]) == (1, 1)
    key = cache.key(Entry.ENCRYPTION_CERTIFICATE, KPR_VALIDATION)
    assert await redis.hget(key, "value") == encryption.public_bytes(Encoding.DER)
    assert float(await redis.hget(key, "fresh_until") or 0) == clock.now + TTL.total_seconds()
    remaining = await redis.pttl(key)
    assert (TTL + stale_for).total_seconds() * 1000 - 5000 < remaining
    assert remaining <= (TTL + stale_for).total_seconds() * 1000


async def test_asked_again_once_the_ttl_has_passed(
    simulated: SimulatedRegistry, redis: Redis, prefix: str, clock: Clock
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, ttl=TTL, key_prefix=prefix, clock=clock)
        await cache.get_communication_party_details(KPR_VALIDATION)
        clock.now += TTL.total_seconds()
        await cache.get_communication_party_details(KPR_VALIDATION)
        await cache.get_communication_party_details(KPR_VALIDATION)

    assert simulated.requests[PARTY] == 2


@pytest.fixture(params=[Outage.UNAVAILABLE, Outage.FAULT])
def outage(request: pytest.FixtureRequest) -> Outage:
    value: Outage = request.param
    return value


async def test_stale_answer_during_an_outage(
    simulated: SimulatedRegistry,
    redis: Redis,
    prefix: str,
    clock: Clock,
    *,
    caplog: pytest.LogCaptureFixture,
    outage: Outage,
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, ttl=TTL, key_prefix=prefix, clock=clock)
        fresh = await cache.get_communication_party_details(KPR_VALIDATION)
        certificate = await cache.get_certificate_details_for_encryption(KPR_VALIDATION)
        clock.now += TTL.total_seconds() + 3600
        simulated.outage = outage
        with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.cache"):
            stale = await cache.get_communication_party_details(KPR_VALIDATION)
            stale_certificate = await cache.get_certificate_details_for_encryption(KPR_VALIDATION)

    assert stale == fresh
    assert stale_certificate == certificate
    assert "address registry unavailable" in caplog.text
    assert f"party of HER-id {KPR_VALIDATION} cached 3600 s past its freshness" in caplog.text
    assert "KPR Validering" not in caplog.text


async def test_a_stale_answer_is_not_asked_for_again_at_once(
    simulated: SimulatedRegistry, redis: Redis, prefix: str, clock: Clock
) -> None:
    retry_after = timedelta(seconds=30)
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(
            client, redis, ttl=TTL, retry_after=retry_after, key_prefix=prefix, clock=clock
        )
        await cache.get_communication_party_details(KPR_VALIDATION)
        clock.now += TTL.total_seconds()
        simulated.outage = Outage.FAULT
        await cache.get_communication_party_details(KPR_VALIDATION)  # stale, postponed
        simulated.outage = None
        clock.now += retry_after.total_seconds() - 1
        await cache.get_communication_party_details(KPR_VALIDATION)
        asked_during_the_pause = simulated.requests[PARTY]
        clock.now += 1
        await cache.get_communication_party_details(KPR_VALIDATION)

    assert asked_during_the_pause == 1
    assert simulated.requests[PARTY] == 2
    remaining = await redis.pttl(cache.key(Entry.PARTY, KPR_VALIDATION))
    assert remaining > 0


async def test_postponing_never_revives_an_expired_entry(
    simulated: SimulatedRegistry, redis: Redis, prefix: str, clock: Clock
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, ttl=TTL, key_prefix=prefix, clock=clock)
        await cache.get_communication_party_details(KPR_VALIDATION)
        key = cache.key(Entry.PARTY, KPR_VALIDATION)
        await cache._postpone(key, clock.now, KPR_VALIDATION)
        assert await redis.pttl(key) > 0
        await redis.delete(key)
        await cache._postpone(key, clock.now, KPR_VALIDATION)

    assert await redis.exists(key) == 0


async def test_outage_without_a_cached_answer(
    simulated: SimulatedRegistry, redis: Redis, prefix: str
) -> None:
    simulated.outage = Outage.UNAVAILABLE
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        with pytest.raises(RegistryUnavailableError):
            await cache.get_communication_party_details(KPR_VALIDATION)
    assert await redis.exists(cache.key(Entry.PARTY, KPR_VALIDATION)) == 0


async def test_final_errors_are_not_hidden_by_a_stale_answer(
    pki: DevPki, redis: Redis, prefix: str, clock: Clock
) -> None:
    guarded = standard_registry(pki, username="kprgw", password="right")
    app = registry_app(guarded)
    async with client_of(app, username="kprgw", password="right") as client:
        cache = CachedRegistry(client, redis, ttl=TTL, key_prefix=prefix, clock=clock)
        await cache.get_communication_party_details(KPR_VALIDATION)
    clock.now += TTL.total_seconds()
    async with client_of(app, username="kprgw", password="rotated") as client:
        cache = CachedRegistry(client, redis, ttl=TTL, key_prefix=prefix, clock=clock)
        with pytest.raises(RegistryAuthenticationError):
            await cache.get_communication_party_details(KPR_VALIDATION)


async def test_not_found_is_not_cached(
    simulated: SimulatedRegistry, redis: Redis, prefix: str
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        for _ in range(2):
            with pytest.raises(PartyNotFoundError):
                await cache.get_communication_party_details("99999")
        with pytest.raises(PartyNotFoundError):
            await cache.get_communication_party_details("not-a-her-id")

    assert simulated.requests[PARTY] == 2
    assert [key async for key in redis.scan_iter(match=f"{prefix}*")] == []


async def test_an_unreadable_entry_is_a_miss(
    simulated: SimulatedRegistry,
    redis: Redis,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        party_key = cache.key(Entry.PARTY, KPR_VALIDATION)
        certificate_key = cache.key(Entry.SIGNING_CERTIFICATE, KPR_VALIDATION)
        await redis.hset(party_key, mapping={"value": b"{not json", "fresh_until": "9e99"})
        await redis.hset(certificate_key, mapping={"value": b"\x30\x03", "fresh_until": "9e99"})
        with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.cache"):
            party = await cache.get_communication_party_details(KPR_VALIDATION)
            await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    assert party.her_id == KPR_VALIDATION
    assert (simulated.requests[PARTY], simulated.requests[SIGNING]) == (1, 1)
    assert "unreadable" in caplog.text
    assert await redis.hget(party_key, "value") != b"{not json"


async def test_invalidate(simulated: SimulatedRegistry, redis: Redis, prefix: str) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        await cache.get_communication_party_details(KPR_VALIDATION)
        await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)
        await cache.invalidate(KPR_VALIDATION)
        await cache.invalidate("not-a-her-id")
        await cache.get_communication_party_details(KPR_VALIDATION)
        await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    assert (simulated.requests[PARTY], simulated.requests[SIGNING]) == (2, 2)


async def test_redis_forgets_after_ttl_and_stale_period(
    simulated: SimulatedRegistry, redis: Redis, prefix: str
) -> None:
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(
            client,
            redis,
            ttl=timedelta(milliseconds=200),
            stale_for=timedelta(0),
            key_prefix=prefix,
        )
        await cache.get_communication_party_details(KPR_VALIDATION)
        assert await redis.exists(cache.key(Entry.PARTY, KPR_VALIDATION)) == 1
        await asyncio.sleep(0.4)
        assert await redis.exists(cache.key(Entry.PARTY, KPR_VALIDATION)) == 0


async def test_lookups_go_on_when_redis_is_down(
    simulated: SimulatedRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    try:
        async with client_of(registry_app(simulated)) as client:
            cache = CachedRegistry(client, unreachable)
            with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.cache"):
                party = await cache.get_communication_party_details(KPR_VALIDATION)
                await cache.invalidate(KPR_VALIDATION)
    finally:
        await unreachable.aclose()

    assert party.her_id == KPR_VALIDATION
    assert "reading HER-id 171479 failed" in caplog.text
    assert "storing HER-id 171479 failed" in caplog.text
    assert "invalidating HER-id 171479 failed" in caplog.text


async def test_settings_are_checked(redis: Redis) -> None:
    async with AddressRegistryClient("http://registry.test/registry") as client:
        with pytest.raises(ValueError, match="ttl"):
            CachedRegistry(client, redis, ttl=timedelta(0))
        with pytest.raises(ValueError, match="stale_for"):
            CachedRegistry(client, redis, stale_for=timedelta(seconds=-1))
        with pytest.raises(ValueError, match="retry_after"):
            CachedRegistry(client, redis, retry_after=timedelta(0))
