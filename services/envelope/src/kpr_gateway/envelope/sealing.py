"""What envelope needs per tenant, loaded once at start-up: the signing credential, the
receiver's encryption certificate and the two HER-ids of the NHN addressing.

Loading checks every certificate (key usage, validity) so that a tenant with missing or
unfit certificates stops the service at start-up, with the tenant and the file named,
instead of parking its first message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from kpr_gateway.security.certs import Credential, days_to_expiry
from kpr_gateway.tenancy import Tenant, TenantsFile, kpr_receiver
from kpr_gateway.tenancy.credentials import load_receiver_certificates, load_tenant_credentials


@dataclass(frozen=True)
class TenantSealing:
    tenant_id: str
    signer: Credential = field(repr=False)
    recipient: x509.Certificate
    from_her_id: str
    """The tenant's communication party (level 2), whose NHN queues carry KPR traffic."""
    to_her_id: str
    """The KPR receiver's level-2 HER-id for the tenant's target environment."""


@dataclass(frozen=True, slots=True)
class ExpiringCertificate:
    tenant_id: str
    certificate: str
    """Which one: ``signing`` (the tenant's) or ``receiver_encryption`` (KPR's)."""
    days_left: int


def receiver_her_id(tenant: Tenant) -> str:
    """The level-2 HER-id of the KPR receiver in the tenant's environment."""
    receiver = kpr_receiver(tenant.environment)
    return receiver.service.her_id if receiver.service is not None else receiver.her_id


def load_tenant_sealing(tenant: Tenant, *, now: datetime | None = None) -> TenantSealing:
    """Raises ``TenantFileError`` naming the tenant when a certificate is missing or unfit."""
    credentials = load_tenant_credentials(tenant, now=now)
    receiver = load_receiver_certificates(tenant, now=now)
    return TenantSealing(
        tenant_id=tenant.id,
        signer=credentials.signing,
        recipient=receiver.encryption,
        from_her_id=tenant.communication_party.her_id,
        to_her_id=receiver_her_id(tenant),
    )


def load_sealing(tenants: TenantsFile, *, now: datetime | None = None) -> dict[str, TenantSealing]:
    """Every tenant's sealing material; the first tenant that cannot be loaded stops it."""
    return {tenant.id: load_tenant_sealing(tenant, now=now) for tenant in tenants.tenants}


def certificates_of(sealing: TenantSealing) -> dict[str, x509.Certificate]:
    return {"signing": sealing.signer.certificate, "receiver_encryption": sealing.recipient}


def expiring(
    sealing: Iterable[TenantSealing], *, within_days: int, now: datetime | None = None
) -> list[ExpiringCertificate]:
    """The certificates that expire within ``within_days`` (DESIGN.md: warn long before)."""
    found = []
    for entry in sealing:
        for name, certificate in certificates_of(entry).items():
            days = days_to_expiry(certificate, now)
            if days < within_days:
                found.append(ExpiringCertificate(entry.tenant_id, name, days))
    return found
