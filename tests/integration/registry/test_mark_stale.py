"""CachedRegistry.mark_stale and ReceiverDirectory.refresh_receiver on real Redis: the next
lookup asks the registry, yet the old answer stays for an outage (unlike ``invalidate``)."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from kpr_gateway.registry import CachedRegistry, Entry, Operation, ReceiverDirectory
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage
from tests.unit.registry.support import (
    KPR_VALIDATION,
    client_of,
    registry_app,
    standard_registry,
    tenant,
    trust_of,
)

PARTY = Operation.GET_COMMUNICATION_PARTY_DETAILS
SIGNING = Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE


async def test_marked_stale_the_registry_is_asked_again(
    pki: DevPki, redis: Redis, prefix: str
) -> None:
    simulated = standard_registry(pki)
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        await cache.get_communication_party_details(KPR_VALIDATION)
        await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)
        key = cache.key(Entry.SIGNING_CERTIFICATE, KPR_VALIDATION)
        expiry_before = await redis.pttl(key)

        await cache.mark_stale(KPR_VALIDATION)
        await cache.mark_stale("not-a-her-id")
        marked_expiry = await redis.pttl(key)
        await cache.get_communication_party_details(KPR_VALIDATION)
        await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)
        await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    assert (simulated.requests[PARTY], simulated.requests[SIGNING]) == (2, 2)
    assert 0 < marked_expiry <= expiry_before  # the Redis expiry is left as it was


async def test_marked_stale_the_old_answer_stays_for_an_outage(
    pki: DevPki, redis: Redis, prefix: str
) -> None:
    simulated = standard_registry(pki)
    async with client_of(registry_app(simulated)) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        cached = await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)
        await cache.mark_stale(KPR_VALIDATION)
        simulated.outage = Outage.UNAVAILABLE

        served = await cache.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    assert served == cached


async def test_marking_creates_no_entries(pki: DevPki, redis: Redis, prefix: str) -> None:
    async with client_of(registry_app(standard_registry(pki))) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        await cache.mark_stale(KPR_VALIDATION)
    assert [key async for key in redis.scan_iter(match=f"{prefix}*")] == []


async def test_refresh_receiver_marks_the_receivers_entries_only_without_override(
    pki: DevPki, pki_dir: Path, redis: Redis, prefix: str, tmp_path: Path
) -> None:
    simulated = standard_registry(pki)
    from_registry = tenant(tmp_path)
    with_override = tenant(
        tmp_path,
        receiver_override={
            "encryption_certificate": str(pki_dir / "fhi-enc.pem"),
            "signing_certificate": str(pki_dir / "fhi-sign.pem"),
        },
    )
    async with client_of(registry_app(simulated, crl=pki.crl())) as client:
        directory = ReceiverDirectory(
            CachedRegistry(client, redis, key_prefix=prefix),
            trust=trust_of(client, pki.ca.certificate),
        )
        await directory.receiver_signing_certificate(from_registry)
        await directory.refresh_receiver(with_override)
        await directory.receiver_signing_certificate(from_registry)
        await directory.refresh_receiver(from_registry)
        await directory.receiver_signing_certificate(from_registry)

    assert simulated.requests[SIGNING] == 2
    await ReceiverDirectory().refresh_receiver(from_registry)  # no registry: nothing to do
