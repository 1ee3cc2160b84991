"""What envelope needs per tenant: the signing credential and the two HER-ids of the NHN
addressing, loaded at build time, and (resolved at start-up, see ``app``) the receiver's
encryption certificate.

Loading checks the signing certificate (key usage, validity) so that a tenant with missing
or unfit certificates stops the service at start-up, with the tenant and the file named,
instead of parking its first message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from kpr_gateway.registry import receiver_her_id
from kpr_gateway.security.certs import Credential, days_to_expiry
from kpr_gateway.tenancy import Tenant, TenantsFile
from kpr_gateway.tenancy.credentials import load_tenant_credentials

SIGNING = "signing"
RECEIVER_ENCRYPTION = "receiver_encryption"


@dataclass(frozen=True)
class TenantSealing:
    tenant_id: str
    signer: Credential = field(repr=False)
    from_her_id: str
    """The tenant's communication party (level 2), whose NHN queues carry KPR traffic."""
    to_her_id: str
    """The KPR receiver's level-2 HER-id for the tenant's target environment."""


@dataclass(frozen=True, slots=True)
class NamedCertificate:
    tenant_id: str
    name: str
    """Which one: ``signing`` (the tenant's) or ``receiver_encryption`` (KPR's)."""
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class ExpiringCertificate:
    tenant_id: str
    certificate: str
    """Which one: ``signing`` (the tenant's) or ``receiver_encryption`` (KPR's)."""
    days_left: int


def load_tenant_sealing(tenant: Tenant, *, now: datetime | None = None) -> TenantSealing:
    """Raises ``TenantFileError`` naming the tenant when its signing certificate is missing
    or unfit."""
    credentials = load_tenant_credentials(tenant, now=now)
    return TenantSealing(
        tenant_id=tenant.id,
        signer=credentials.signing,
        from_her_id=tenant.communication_party.her_id,
        to_her_id=receiver_her_id(tenant),
    )


def load_sealing(tenants: TenantsFile, *, now: datetime | None = None) -> dict[str, TenantSealing]:
    """Every tenant's sealing material; the first tenant that cannot be loaded stops it."""
    return {tenant.id: load_tenant_sealing(tenant, now=now) for tenant in tenants.tenants}


def expiring(
    certificates: Iterable[NamedCertificate], *, within_days: int, now: datetime | None = None
) -> list[ExpiringCertificate]:
    """The certificates that expire within ``within_days`` (DESIGN.md: warn long before)."""
    found = []
    for entry in certificates:
        days = days_to_expiry(entry.certificate, now)
        if days < within_days:
            found.append(ExpiringCertificate(entry.tenant_id, entry.name, days))
    return found
