"""Receivers of another environment than the tenant's own (KPR Validering, for a test
submission of the annual round): resolved when a message first needs one, through the same
directory, then kept; renewed per environment; a registry failure becomes the service's own
retried or parked error."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509

from kpr_gateway.pipeline.errors import PermanentError, TransientError
from kpr_gateway.registry import (
    ReceiverDirectory,
    ReceiverUnresolvedError,
    RegistryUnavailableError,
)
from kpr_gateway.runtime.receivers import (
    ReceiverCertificate,
    ReceiverErrors,
    ResolvedCertificates,
    for_message,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TargetEnvironment, Tenant, TenantsFile
from tests.support.outbound_world import bergen_entry, write_tenants
from tests.support.validation_receiver import in_production
from tests.unit.runtime.registries import PARTIES

VALIDATION, PRODUCTION = TargetEnvironment.VALIDATION, TargetEnvironment.PRODUCTION


class Directory(ReceiverDirectory):
    """A registry's answers without a registry: ``kpr``'s signing certificate for KPR,
    ``kpr-next``'s for KPR Validering; every lookup and refresh noted."""

    def __init__(self, pki: DevPki) -> None:
        super().__init__()
        self._pki = pki
        self.lookups: list[TargetEnvironment] = []
        self.refreshed: list[TargetEnvironment | None] = []
        self.failure: Exception | None = None

    async def receiver_signing_certificate(
        self,
        tenant: Tenant,
        *,
        now: datetime | None = None,
        environment: TargetEnvironment | None = None,
    ) -> x509.Certificate:
        chosen = environment or tenant.environment
        self.lookups.append(chosen)
        await asyncio.sleep(0)  # let concurrent callers meet
        if self.failure is not None:
            raise self.failure
        party = "kpr-next" if chosen is VALIDATION else "kpr"
        return self._pki.party(party).signing.certificate

    async def refresh_receiver(
        self, tenant: Tenant, *, environment: TargetEnvironment | None = None
    ) -> None:
        self.refreshed.append(environment)


class DownError(TransientError):
    """A service's retried error."""


class UnresolvedError(PermanentError):
    """A service's parked error."""


ERRORS = ReceiverErrors(down=DownError, unresolved=UnresolvedError)


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def tenants(pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen in production, its receivers from the (stand-in) registry."""
    return write_tenants(pki, tmp_path, [in_production(bergen_entry(receiver=False))])


@pytest.fixture
def directory(pki: DevPki) -> Directory:
    return Directory(pki)


@pytest.fixture
async def signers(directory: Directory, tenants: TenantsFile) -> ResolvedCertificates:
    resolved = ResolvedCertificates(directory, ReceiverCertificate.SIGNING)
    await resolved.resolve(tenants.tenants)
    return resolved


async def test_another_environment_is_looked_up_once_when_first_needed_then_kept(
    signers: ResolvedCertificates, directory: Directory, tenants: TenantsFile, pki: DevPki
) -> None:
    bergen = tenants.by_id("bergen")
    assert directory.lookups == [PRODUCTION]  # only the tenant's own at start-up

    found = await asyncio.gather(*(signers.obtain(bergen, VALIDATION) for _ in range(3)))

    assert found == [pki.party("kpr-next").signing.certificate] * 3
    assert directory.lookups == [PRODUCTION, VALIDATION]
    assert await signers.obtain(bergen, VALIDATION) == found[0]
    assert directory.lookups == [PRODUCTION, VALIDATION]
    # the tenant's own is what it was, and the only one the metrics list
    own = pki.party("kpr").signing.certificate
    assert signers.current("bergen") == own
    assert await signers.obtain(bergen, PRODUCTION) == own
    assert signers.items() == [("bergen", own)]


async def test_a_renewal_asks_again_for_the_environment_that_failed(
    signers: ResolvedCertificates, directory: Directory, tenants: TenantsFile, pki: DevPki
) -> None:
    bergen = tenants.by_id("bergen")
    held = await signers.obtain(bergen, VALIDATION)

    assert await signers.renew(bergen, held, environment=VALIDATION) is None  # the same again

    assert directory.refreshed == [VALIDATION]
    assert directory.lookups == [PRODUCTION, VALIDATION, VALIDATION]
    assert signers.current("bergen") == pki.party("kpr").signing.certificate


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (RegistryUnavailableError("the registry answered HTTP 503"), DownError),
        (ReceiverUnresolvedError("receiver HER-id 171479 is not active"), UnresolvedError),
    ],
)
async def test_a_registry_failure_becomes_the_service_s_own_error(
    signers: ResolvedCertificates,
    directory: Directory,
    tenants: TenantsFile,
    failure: Exception,
    expected: type[Exception],
) -> None:
    directory.failure = failure
    with pytest.raises(expected, match=str(failure)):
        await for_message(signers.obtain(tenants.by_id("bergen"), VALIDATION), ERRORS)
    directory.failure = None  # nothing was kept: the next message asks again
    assert await for_message(signers.obtain(tenants.by_id("bergen"), VALIDATION), ERRORS)
