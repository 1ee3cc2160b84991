"""Where each tenant's KPR messages go on the Tjenestebuss, resolved once at start-up.

The receiver's async queue comes from the receiver directory (the tenant's
``receiver_override``, else the Address Registry's ``E_SB_ASYNC`` address of the KPR
receiver); replies come back to the tenant's own async queue, where receipts listens. A
tenant whose receiver cannot be resolved stops the start-up with the tenant named.

A message that names another environment than its tenant's (an annual test submission to KPR
Validering) goes to that environment's receiver: its route is resolved when a message first
needs it, through the same directory, and kept (``RouteBook``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kpr_gateway.registry import ReceiverDirectory, receiver_her_id
from kpr_gateway.runtime.receivers import resolve_each
from kpr_gateway.tenancy import TargetEnvironment, Tenant, TenantsFile

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


async def resolve_route(
    tenant: Tenant, receivers: ReceiverDirectory, environment: TargetEnvironment | None = None
) -> TenantRoute:
    """The route to the receiver of ``environment``, else of the tenant's own. Raises
    ``RegistryError`` when the receiver's queue cannot be resolved."""
    return TenantRoute(
        tenant_id=tenant.id,
        to_queue=await receivers.receiver_async_queue(tenant, environment=environment),
        reply_to=tenant.async_queue,
        from_her_id=tenant.communication_party.her_id,
        to_her_id=receiver_her_id(tenant, environment),
    )


@dataclass
class RouteBook:
    """Routes to receivers of other environments than their tenants' own, resolved on first
    use and kept for the life of the process (as the start-up's routes are)."""

    receivers: ReceiverDirectory
    _held: dict[tuple[str, TargetEnvironment], TenantRoute] = field(default_factory=dict)
    _locks: dict[tuple[str, TargetEnvironment], asyncio.Lock] = field(default_factory=dict)

    async def route(self, tenant: Tenant, environment: TargetEnvironment) -> TenantRoute:
        """Raises ``RegistryError`` when the receiver's queue cannot be resolved."""
        key = (tenant.id, environment)
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._held.get(key)
            if held is None:
                held = self._held[key] = await resolve_route(tenant, self.receivers, environment)
            return held


async def resolve_routes(
    tenants: TenantsFile, receivers: ReceiverDirectory
) -> dict[str, TenantRoute]:
    """Every tenant's route; the first that cannot be resolved raises ``ReceiverStartupError``."""
    return await resolve_each(
        tenants.tenants, WHAT, lambda tenant: resolve_route(tenant, receivers)
    )
