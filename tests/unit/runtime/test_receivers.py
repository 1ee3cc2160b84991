"""Receivers resolved at start-up, and a receiver certificate renewed from the registry when
it fails: once per rotation, shared by concurrent deliveries, at most once per interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.registry import Operation, ReceiverDirectory
from kpr_gateway.runtime import StartupError
from kpr_gateway.runtime.receivers import (
    ReceiverCertificate,
    ReceiverStartupError,
    ResolvedCertificates,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage, SimulatedRegistry
from kpr_gateway.tenancy import TenantsFile
from tests.support.outbound_world import bergen_entry, trondheim_entry, write_tenants
from tests.unit.runtime.registries import Endpoint, directory_over_asgi, kpr_registry

SIGNING = Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE
INTERVAL = 60.0


class Clock:
    """Monotonic seconds, moved on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tenants(registry_pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen with an override (the ``fhi`` certificates), trondheim without one."""
    return write_tenants(registry_pki, tmp_path, [bergen_entry(), trondheim_entry(receiver=False)])


@pytest.fixture
def endpoint(registry_pki: DevPki) -> Endpoint:
    return Endpoint(kpr_registry(registry_pki, "kpr"))


@pytest.fixture
async def directory(
    endpoint: Endpoint, registry_pki: DevPki, tmp_path: Path
) -> AsyncIterator[ReceiverDirectory]:
    async with directory_over_asgi(
        endpoint, FakeAsyncRedis(), tmp_path, trusted=[registry_pki]
    ) as directory:
        yield directory


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def signers(
    directory: ReceiverDirectory, tenants: TenantsFile, clock: Clock
) -> ResolvedCertificates:
    resolved = ResolvedCertificates(
        directory, ReceiverCertificate.SIGNING, renew_interval_seconds=INTERVAL, clock=clock
    )
    await resolved.resolve(tenants.tenants)
    return resolved


def signing_requests(endpoint: Endpoint) -> int:
    return endpoint.registry.requests[SIGNING]


async def test_each_tenant_from_its_override_or_the_registry(
    signers: ResolvedCertificates, registry_pki: DevPki
) -> None:
    assert signers.current("bergen") == registry_pki.party("fhi").signing.certificate
    assert signers.current("trondheim") == registry_pki.party("kpr").signing.certificate
    assert [tenant for tenant, _ in signers.items()] == ["bergen", "trondheim"]


async def test_a_tenant_that_cannot_be_resolved_is_named(
    directory: ReceiverDirectory, endpoint: Endpoint, tenants: TenantsFile
) -> None:
    endpoint.registry.outage = Outage.UNAVAILABLE  # and nothing cached yet
    encryption = ResolvedCertificates(directory, ReceiverCertificate.ENCRYPTION)

    with pytest.raises(
        ReceiverStartupError,
        match=r"^tenant trondheim: the receiver's encryption certificate cannot be resolved: "
        r"GetCertificateDetailsForEncryption for HER-id 171479: the registry answered HTTP 503$",
    ) as stopped:
        await encryption.resolve(tenants.tenants)
    assert isinstance(stopped.value, StartupError)


async def test_a_rotation_in_the_registry_is_picked_up_with_one_lookup(
    signers: ResolvedCertificates,
    endpoint: Endpoint,
    tenants: TenantsFile,
    registry_pki: DevPki,
) -> None:
    trondheim = tenants.by_id("trondheim")
    old = signers.current("trondheim")
    endpoint.serve(kpr_registry(registry_pki, "kpr-next"))  # the cache is still fresh

    renewed = await asyncio.gather(*(signers.renew(trondheim, old) for _ in range(3)))

    new = registry_pki.party("kpr-next").signing.certificate
    assert renewed == [new, new, new]
    assert signers.current("trondheim") == new
    assert signing_requests(endpoint) == 1  # one lookup, past the fresh cache entry


async def test_the_same_certificate_again_is_no_renewal_and_lookups_are_spaced(
    signers: ResolvedCertificates, endpoint: Endpoint, tenants: TenantsFile, clock: Clock
) -> None:
    trondheim = tenants.by_id("trondheim")
    held = signers.current("trondheim")
    before = signing_requests(endpoint)

    assert await signers.renew(trondheim, held) is None
    assert signing_requests(endpoint) == before + 1
    clock.now += INTERVAL - 1
    assert await signers.renew(trondheim, held) is None
    assert signing_requests(endpoint) == before + 1  # not asked again so soon
    clock.now += 1
    assert await signers.renew(trondheim, held) is None
    assert signing_requests(endpoint) == before + 2


async def test_an_override_is_not_renewed(
    signers: ResolvedCertificates, endpoint: Endpoint, tenants: TenantsFile
) -> None:
    before = sum(endpoint.registry.requests.values())
    assert await signers.renew(tenants.by_id("bergen"), signers.current("bergen")) is None
    assert sum(endpoint.registry.requests.values()) == before


async def test_during_an_outage_the_held_certificate_stays_and_stays_cached(
    signers: ResolvedCertificates,
    directory: ReceiverDirectory,
    endpoint: Endpoint,
    tenants: TenantsFile,
) -> None:
    trondheim = tenants.by_id("trondheim")
    held = signers.current("trondheim")
    endpoint.registry.outage = Outage.FAULT

    assert await signers.renew(trondheim, held) is None
    # marked stale, not deleted: lookups still answer while the registry is down
    assert await directory.receiver_signing_certificate(trondheim) == held
    assert signers.current("trondheim") == held


async def test_a_refusing_registry_keeps_the_failure_with_a_warning(
    signers: ResolvedCertificates,
    endpoint: Endpoint,
    tenants: TenantsFile,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = signers.current("trondheim")
    current = endpoint.registry
    endpoint.serve(SimulatedRegistry(current.parties.values(), username="u", password="p"))

    with caplog.at_level(logging.WARNING, logger="kpr_gateway.runtime.receivers"):
        assert await signers.renew(tenants.by_id("trondheim"), held) is None

    assert signers.current("trondheim") == held
    [warning] = caplog.records
    assert warning.getMessage().startswith(
        "tenant trondheim: the receiver's signing certificate cannot be renewed:"
    )
    assert "refused our credentials" in warning.getMessage()
