"""Where each tenant's KPR messages go on the Tjenestebuss, worked out once at start-up.

The receiver's async queue comes from the receiver certificates (the static override until
the Address Registry is used); replies come back to the tenant's own async queue. A tenant
whose receiver cannot be loaded stops the start-up with the tenant named.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kpr_gateway.tenancy import Tenant, TenantsFile, kpr_receiver
from kpr_gateway.tenancy.credentials import load_receiver_certificates


@dataclass(frozen=True, slots=True)
class TenantRoute:
    tenant_id: str
    to_queue: str
    """The KPR receiver's async queue."""
    reply_to: str
    """The tenant's communication party's async queue, where the AppRec comes back."""
    from_her_id: str
    to_her_id: str


def receiver_her_id(tenant: Tenant) -> str:
    """The level-2 HER-id of the KPR receiver in the tenant's environment."""
    receiver = kpr_receiver(tenant.environment)
    return receiver.service.her_id if receiver.service is not None else receiver.her_id


def load_route(tenant: Tenant, *, now: datetime | None = None) -> TenantRoute:
    """Raises ``TenantFileError`` naming the tenant when its receiver is not configured."""
    receiver = load_receiver_certificates(tenant, now=now)
    return TenantRoute(
        tenant_id=tenant.id,
        to_queue=receiver.async_queue,
        reply_to=tenant.async_queue,
        from_her_id=tenant.communication_party.her_id,
        to_her_id=receiver_her_id(tenant),
    )


def load_routes(tenants: TenantsFile, *, now: datetime | None = None) -> dict[str, TenantRoute]:
    return {tenant.id: load_route(tenant, now=now) for tenant in tenants.tenants}
