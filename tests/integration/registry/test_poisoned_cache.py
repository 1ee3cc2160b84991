"""A certificate swapped into the Redis cache is trusted no more than one from the registry:
whatever comes out of the cache is checked again (chain, organisation number, revocation).
With the registry up, the swapped entry is replaced by the registry's answer; with the
registry down, the lookup fails. Either way the swapped certificate is never handed out, so
nobody can read what is sealed for KPR, nor sign AppRecs as KPR."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from redis.asyncio import Redis

from kpr_gateway.registry import (
    FHI_ORG_NUMBER,
    CachedRegistry,
    Entry,
    Operation,
    ReceiverDirectory,
    UntrustedCertificateError,
)
from kpr_gateway.security.certs import Usage
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage
from kpr_gateway.tenancy import Tenant
from tests.unit.registry.forging import ENCRYPTION_USAGE, SIGNING_USAGE, issue, name, serial_number
from tests.unit.registry.support import (
    CRL_URL,
    KPR_VALIDATION,
    client_of,
    registry_app,
    standard_registry,
    tenant,
    trust_of,
)

ENTRY = {Usage.ENCRYPTION: Entry.ENCRYPTION_CERTIFICATE, Usage.SIGNING: Entry.SIGNING_CERTIFICATE}
LOOKUP = {
    Usage.ENCRYPTION: Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION,
    Usage.SIGNING: Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE,
}
KINDS = ("another issuer", "another organisation", "revoked")


@dataclass(frozen=True)
class Swap:
    certificate: x509.Certificate
    revoked: tuple[x509.Certificate, ...]
    """What the CA's CRL lists."""
    refusal: str


def swap(kind: str, usage: Usage, pki: DevPki) -> Swap:
    """A certificate fit for ``usage`` that someone with Redis access could put in the cache."""
    if kind == "another issuer":  # an attacker's own CA, FHI's name and number
        stranger = DevPki.create([("fhi", FHI_ORG_NUMBER)], crl_url=CRL_URL)
        forged = stranger.party("fhi").credential(usage).certificate
        return Swap(forged, (), "does not chain to an issuer in the trust bundle")
    if kind == "another organisation":  # a genuine certificate of someone else
        other = pki.party("other").credential(usage).certificate
        return Swap(other, (), "belongs to organisation number 974760673")
    key_usage = ENCRYPTION_USAGE if usage is Usage.ENCRYPTION else SIGNING_USAGE
    revoked = issue(
        pki.ca, name("fhi", serial_number(FHI_ORG_NUMBER)), crl_url=CRL_URL, key_usage=key_usage
    ).certificate  # FHI's, once: its key compromised
    return Swap(revoked, (revoked,), "it is revoked")


async def put(redis: Redis, key: str, certificate: x509.Certificate) -> None:
    """Write ``certificate`` into the cache entry as the cache itself would, fresh for an hour."""
    await redis.hset(
        key,
        mapping={
            b"value": certificate.public_bytes(Encoding.DER),
            b"fresh_until": repr(time.time() + 3600),
        },
    )
    await redis.pexpire(key, 86_400_000)


def lookup(
    directory: ReceiverDirectory, usage: Usage
) -> Callable[[Tenant], Awaitable[x509.Certificate]]:
    if usage is Usage.ENCRYPTION:
        return directory.receiver_encryption_certificate
    return directory.receiver_signing_certificate


@pytest.mark.parametrize("usage", [Usage.ENCRYPTION, Usage.SIGNING])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_swapped_entry_is_replaced_by_the_registrys_answer(
    pki: DevPki, redis: Redis, prefix: str, tmp_path: Path, *, kind: str, usage: Usage
) -> None:
    swapped = swap(kind, usage, pki)
    simulated = standard_registry(pki)
    genuine = pki.party("fhi").credential(usage).certificate
    async with client_of(registry_app(simulated, crl=pki.crl(swapped.revoked))) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        directory = ReceiverDirectory(cache, trust=trust_of(client, pki.ca.certificate))
        key = cache.key(ENTRY[usage], KPR_VALIDATION)
        await put(redis, key, swapped.certificate)

        served = await lookup(directory, usage)(tenant(tmp_path))

    assert served == genuine
    assert simulated.requests[LOOKUP[usage]] == 1  # the swapped entry sent it to the registry
    assert await redis.hget(key, b"value") == genuine.public_bytes(Encoding.DER)


@pytest.mark.parametrize("usage", [Usage.ENCRYPTION, Usage.SIGNING])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_swapped_entry_is_refused_while_the_registry_is_down(
    pki: DevPki, redis: Redis, prefix: str, tmp_path: Path, *, kind: str, usage: Usage
) -> None:
    swapped = swap(kind, usage, pki)
    simulated = standard_registry(pki)
    simulated.outage = Outage.UNAVAILABLE
    async with client_of(registry_app(simulated, crl=pki.crl(swapped.revoked))) as client:
        cache = CachedRegistry(client, redis, key_prefix=prefix)
        directory = ReceiverDirectory(cache, trust=trust_of(client, pki.ca.certificate))
        await put(redis, cache.key(ENTRY[usage], KPR_VALIDATION), swapped.certificate)

        with pytest.raises(UntrustedCertificateError, match=swapped.refusal) as refused:
            await lookup(directory, usage)(tenant(tmp_path))

    assert f"the registry's {usage.value} certificate of HER-id {KPR_VALIDATION}" in str(
        refused.value
    )
