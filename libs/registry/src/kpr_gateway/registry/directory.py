"""``ReceiverDirectory``: where a tenant's KPR messages go and where its answers arrive.

For the receiver (the KPR party of the tenant's target environment, level 2): its encryption
certificate (envelope), its signing certificate (receipts verify AppRecs with it) and its
async queue (dispatch). For the tenant itself: its own async and error queues (receipts
listens there; dispatch names the async one as reply-to).

Each comes from the tenant's static configuration when it has some (``receiver_override``
for the receiver, ``nhn`` for its own queues: sites without registry access), else from the
Address Registry, usually a ``CachedRegistry``. Certificates from the registry are checked
like the override's (validity dates, key usage for the use). A party lacking its async or
error queue is looked up once more through its parent, in case the registry did not list the
parent's addresses as inherited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from kpr_gateway.registry.cache import CachedRegistry
from kpr_gateway.registry.errors import ReceiverUnresolvedError
from kpr_gateway.registry.interface import AddressRegistry
from kpr_gateway.registry.party import CommunicationParty
from kpr_gateway.security.certs import Usage, check_certificate
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.tenancy import TenancyError, Tenant, kpr_receiver
from kpr_gateway.tenancy.credentials import load_receiver_certificates

_log = logging.getLogger(__name__)


class Source(StrEnum):
    OVERRIDE = "override"
    REGISTRY = "registry"


@dataclass(frozen=True)
class ReceiverEndpoint:
    her_id: str
    """The receiver's level-2 HER-id (KPR, KPR Validering or NHN's communication test)."""
    encryption_certificate: x509.Certificate
    signing_certificate: x509.Certificate
    async_queue: str
    source: Source


@dataclass(frozen=True)
class TenantQueues:
    her_id: str
    """The tenant's level-2 communication party, which owns the queues."""
    async_queue: str
    error_queue: str


def receiver_her_id(tenant: Tenant) -> str:
    receiver = kpr_receiver(tenant.environment)
    return receiver.service.her_id if receiver.service is not None else receiver.her_id


class ReceiverDirectory:
    """Resolves receivers and own queues per tenant; ``registry=None`` means overrides only."""

    def __init__(self, registry: AddressRegistry | None = None) -> None:
        self._registry = registry

    async def receiver(self, tenant: Tenant, *, now: datetime | None = None) -> ReceiverEndpoint:
        """Everything about the receiver at once (three registry lookups without override)."""
        if tenant.receiver_override is not None:
            return self._override(tenant, now)
        return ReceiverEndpoint(
            her_id=receiver_her_id(tenant),
            encryption_certificate=await self.receiver_encryption_certificate(tenant, now=now),
            signing_certificate=await self.receiver_signing_certificate(tenant, now=now),
            async_queue=await self.receiver_async_queue(tenant),
            source=Source.REGISTRY,
        )

    async def receiver_encryption_certificate(
        self, tenant: Tenant, *, now: datetime | None = None
    ) -> x509.Certificate:
        if tenant.receiver_override is not None:
            return self._override(tenant, now).encryption_certificate
        her_id = receiver_her_id(tenant)
        certificate = await self._need_registry(tenant).get_certificate_details_for_encryption(
            her_id
        )
        _check(tenant, her_id, certificate, Usage.ENCRYPTION, now)
        return certificate

    async def receiver_signing_certificate(
        self, tenant: Tenant, *, now: datetime | None = None
    ) -> x509.Certificate:
        if tenant.receiver_override is not None:
            return self._override(tenant, now).signing_certificate
        her_id = receiver_her_id(tenant)
        registry = self._need_registry(tenant)
        certificate = await registry.get_certificate_details_for_validating_signature(her_id)
        _check(tenant, her_id, certificate, Usage.SIGNING, now)
        return certificate

    async def receiver_async_queue(self, tenant: Tenant) -> str:
        her_id = receiver_her_id(tenant)
        if tenant.receiver_override is not None:
            return tenant.receiver_override.async_queue or f"{her_id}_async"
        party, parent = await self._party_and_parent(self._need_registry(tenant), her_id)
        if not party.active:
            raise ReceiverUnresolvedError(
                f"tenant {tenant.id}: receiver HER-id {her_id} is not active in the Address"
                " Registry"
            )
        queue = party.async_queue or (parent.async_queue if parent else None)
        if queue is None:
            raise ReceiverUnresolvedError(
                f"tenant {tenant.id}: receiver HER-id {her_id} has no E_SB_ASYNC queue in the"
                " Address Registry"
            )
        return queue

    async def tenant_queues(self, tenant: Tenant) -> TenantQueues:
        """The tenant's own queues: ``nhn`` settings first, then the registry, then NHN's
        naming convention (``<her_id>_async``/``_error``, with a warning)."""
        her_id = tenant.communication_party.her_id
        configured_async, configured_error = tenant.nhn.async_queue, tenant.nhn.error_queue
        if self._registry is None or (configured_async and configured_error):
            return TenantQueues(her_id, tenant.async_queue, tenant.error_queue)
        party, parent = await self._party_and_parent(self._registry, her_id)
        registered_async = party.async_queue or (parent.async_queue if parent else None)
        registered_error = party.error_queue or (parent.error_queue if parent else None)
        if not (configured_async or registered_async) or not (configured_error or registered_error):
            _log.warning(
                "tenant %s: HER-id %s lacks queues in the Address Registry; using NHN's"
                " naming convention",
                tenant.id,
                her_id,
            )
        return TenantQueues(
            her_id,
            configured_async or registered_async or tenant.async_queue,
            configured_error or registered_error or tenant.error_queue,
        )

    async def refresh_receiver(self, tenant: Tenant) -> None:
        """Have the next lookups of the tenant's receiver ask the registry, not the cache.

        For a certificate from the registry that failed (an AppRec's signer is not the one
        held, a receiver certificate expired): KPR may have a new one. The cached answers are
        marked stale rather than deleted, so during a registry outage the lookups still answer
        (with the old certificate). Nothing to do with an override, or without a cache.
        """
        if tenant.receiver_override is None and isinstance(self._registry, CachedRegistry):
            await self._registry.mark_stale(receiver_her_id(tenant))

    def _need_registry(self, tenant: Tenant) -> AddressRegistry:
        if self._registry is None:
            raise ReceiverUnresolvedError(
                f"tenant {tenant.id}: no receiver_override and no Address Registry configured"
            )
        return self._registry

    @staticmethod
    async def _party_and_parent(
        registry: AddressRegistry, her_id: str
    ) -> tuple[CommunicationParty, CommunicationParty | None]:
        party = await registry.get_communication_party_details(her_id)
        complete = party.async_queue is not None and party.error_queue is not None
        if complete or party.parent_her_id is None:
            return party, None
        return party, await registry.get_communication_party_details(party.parent_her_id)

    @staticmethod
    def _override(tenant: Tenant, now: datetime | None) -> ReceiverEndpoint:
        try:
            loaded = load_receiver_certificates(tenant, now=now)
        except TenancyError as exc:
            raise ReceiverUnresolvedError(str(exc)) from exc
        return ReceiverEndpoint(
            her_id=receiver_her_id(tenant),
            encryption_certificate=loaded.encryption,
            signing_certificate=loaded.signing,
            async_queue=loaded.async_queue,
            source=Source.OVERRIDE,
        )


def _check(
    tenant: Tenant,
    her_id: str,
    certificate: x509.Certificate,
    usage: Usage,
    now: datetime | None,
) -> None:
    try:
        check_certificate(certificate, usage, now)
    except SecurityError as exc:
        raise ReceiverUnresolvedError(
            f"tenant {tenant.id}: the registry's {usage.value} certificate of HER-id {her_id}"
            f" is unfit: {exc}"
        ) from exc
