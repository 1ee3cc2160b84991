"""ReceiverDirectory for a receiver a message names (KPR Validering, for a test submission of
the annual round): with an override, the override's certificates and NHN's queue convention,
since the override's queue is the tenant's own receiver's."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.registry import ReceiverDirectory, ReceiverUnresolvedError, Source, receiver_her_id
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TargetEnvironment
from tests.unit.registry.support import KPR_PRODUCTION, KPR_VALIDATION, tenant

VALIDATION = TargetEnvironment.VALIDATION


def override(pki_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "encryption_certificate": str(pki_dir / "fhi-enc.pem"),
        "signing_certificate": str(pki_dir / "fhi-sign.pem"),
        **extra,
    }


@pytest.mark.parametrize("configured", [None, "kpr_custom_async"])
async def test_an_override_serves_kpr_validering_on_its_conventional_queue(
    pki: DevPki, pki_dir: Path, tmp_path: Path, configured: str | None
) -> None:
    extra = {} if configured is None else {"async_queue": configured}
    bergen = tenant(
        tmp_path, environment="production", receiver_override=override(pki_dir, **extra)
    )
    directory = ReceiverDirectory()

    own = await directory.receiver(bergen)
    test = await directory.receiver(bergen, environment=VALIDATION)

    assert (own.her_id, own.async_queue) == (KPR_PRODUCTION, configured or "122612_async")
    assert (test.her_id, test.async_queue) == (KPR_VALIDATION, "171479_async")
    assert test.source is Source.OVERRIDE
    assert test.encryption_certificate == pki.party("fhi").encryption.certificate
    assert test.signing_certificate == pki.party("fhi").signing.certificate
    assert await directory.receiver_async_queue(bergen, environment=VALIDATION) == "171479_async"
    assert receiver_her_id(bergen, VALIDATION) == KPR_VALIDATION
    assert receiver_her_id(bergen) == KPR_PRODUCTION


async def test_the_tenant_s_own_environment_named_is_the_same_as_none(
    pki_dir: Path, tmp_path: Path
) -> None:
    bergen = tenant(tmp_path, receiver_override=override(pki_dir, async_queue="kpr_custom"))
    directory = ReceiverDirectory()
    assert await directory.receiver_async_queue(bergen, environment=VALIDATION) == "kpr_custom"
    assert await directory.receiver(bergen, environment=VALIDATION) == (
        await directory.receiver(bergen)
    )


async def test_without_override_or_registry_kpr_validering_is_unresolved(tmp_path: Path) -> None:
    bergen = tenant(tmp_path, environment="production")
    with pytest.raises(ReceiverUnresolvedError, match="no receiver_override and no Address"):
        await ReceiverDirectory().receiver_encryption_certificate(bergen, environment=VALIDATION)
