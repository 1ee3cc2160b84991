"""Where each tenant's KPR messages go on the Tjenestebuss, resolved once at start-up.

The receiver's async queue comes from the receiver directory (the tenant's
``receiver_override``, else the Address Registry's ``E_SB_ASYNC`` address of the KPR
receiver); replies come back to the tenant's own async queue, where receipts listens. A
tenant whose receiver cannot be resolved stops the start-up with the tenant named.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpr_gateway.registry import ReceiverDirectory, receiver_her_id
from kpr_gateway.runtime.receivers import resolve_each
from kpr_gateway.tenancy import Tenant, TenantsFile

WHAT = "the receiver's async queue"


@dataclass(frozen=True, slots=True)
class TenantRoute:
    tenant_id: str
    to_queue: str
    """The KPR receiver's async queue."""
    reply_to: str
    """The tenant's communication party's async queue, where the AppRec comes back."""
    from_her_id: str
    to_her_id: str


async def resolve_route(tenant: Tenant, receivers: ReceiverDirectory) -> TenantRoute:
    """Raises ``RegistryError`` when the receiver's queue cannot be resolved."""
    return TenantRoute(
        tenant_id=tenant.id,
        to_queue=await receivers.receiver_async_queue(tenant),
        reply_to=tenant.async_queue,
        from_her_id=tenant.communication_party.her_id,
        to_her_id=receiver_her_id(tenant),
    )


async def resolve_routes(
    tenants: TenantsFile, receivers: ReceiverDirectory
) -> dict[str, TenantRoute]:
    """Every tenant's route; the first that cannot be resolved raises ``ReceiverStartupError``."""
    return await resolve_each(
        tenants.tenants, WHAT, lambda tenant: resolve_route(tenant, receivers)
    )
