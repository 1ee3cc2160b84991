"""``ReceiverDirectory``: where a tenant's KPR messages go and where its answers arrive.

For the receiver (the KPR party of the tenant's target environment, level 2): its encryption
certificate (envelope), its signing certificate (receipts verify AppRecs with it) and its
async queue (dispatch). For the tenant itself: its own async and error queues (receipts
listens there; dispatch names the async one as reply-to).

Each comes from the tenant's static configuration when it has some (``receiver_override``
for the receiver, ``nhn`` for its own queues: sites without registry access), else from the
Address Registry, usually a ``CachedRegistry``. Certificates from the registry are checked
like the override's (validity dates, key usage for the use), and then by the
``CertificateTrust`` the directory is given: chain to the trust bundle, organisation number
(FHI's for KPR's certificates, the tenant's for its own) and revocation. A certificate that
fails those checks is asked for once more past the cache (a Redis entry is trusted no more
than the registry; a swapped one is replaced by the registry's), and refused if the answer
fails too. A party lacking its async or error queue is looked up once more through its
parent, in case the registry did not list the parent's addresses as inherited.

The receiver is the KPR party of the tenant's environment unless a lookup names another
(``environment``: KPR Validering for a test submission of the annual round, see
``tenancy.message_environment``). With an override, KPR Validering is served with the
override's certificates (FHI's enterprise certificates; a site whose KPR Validering has
others uses the registry) and its queue by NHN's convention, ``171479_async``: the override's
``async_queue`` is that of the tenant's own receiver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from kpr_gateway.registry.cache import CachedRegistry
from kpr_gateway.registry.errors import (
    ReceiverUnresolvedError,
    RevocationUnknownError,
    UntrustedCertificateError,
)
from kpr_gateway.registry.interface import AddressRegistry
from kpr_gateway.registry.party import CommunicationParty
from kpr_gateway.registry.trust import FHI_ORG_NUMBER, CertificateTrust
from kpr_gateway.security.certs import Usage, check_certificate
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.tenancy import TargetEnvironment, TenancyError, Tenant, kpr_receiver_her_id
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


def receiver_her_id(tenant: Tenant, environment: TargetEnvironment | None = None) -> str:
    """The receiver's HER-id: of ``environment``, else of the tenant's own."""
    return kpr_receiver_her_id(environment or tenant.environment)


def _is_own(tenant: Tenant, environment: TargetEnvironment | None) -> bool:
    return environment is None or environment is tenant.environment


class ReceiverDirectory:
    """Resolves receivers and own queues per tenant; ``registry=None`` means overrides only.

    With a registry, ``trust`` is required: its certificates are used only once trusted.
    ``receiver_org_number`` is the organisation KPR's certificates must belong to.
    """

    def __init__(
        self,
        registry: AddressRegistry | None = None,
        *,
        trust: CertificateTrust | None = None,
        receiver_org_number: str = FHI_ORG_NUMBER,
    ) -> None:
        if registry is not None and trust is None:
            raise ValueError("certificates from the Address Registry need a CertificateTrust")
        self._registry = registry
        self._trust = trust
        self._receiver_org_number = receiver_org_number

    async def receiver(
        self,
        tenant: Tenant,
        *,
        now: datetime | None = None,
        environment: TargetEnvironment | None = None,
    ) -> ReceiverEndpoint:
        """Everything about the receiver at once (three registry lookups without override)."""
        if tenant.receiver_override is not None:
            return self._override(tenant, now, environment)
        return ReceiverEndpoint(
            her_id=receiver_her_id(tenant, environment),
            encryption_certificate=await self.receiver_encryption_certificate(
                tenant, now=now, environment=environment
            ),
            signing_certificate=await self.receiver_signing_certificate(
                tenant, now=now, environment=environment
            ),
            async_queue=await self.receiver_async_queue(tenant, environment=environment),
            source=Source.REGISTRY,
        )

    async def receiver_encryption_certificate(
        self,
        tenant: Tenant,
        *,
        now: datetime | None = None,
        environment: TargetEnvironment | None = None,
    ) -> x509.Certificate:
        if tenant.receiver_override is not None:
            return self._override(tenant, now, environment).encryption_certificate
        her_id = receiver_her_id(tenant, environment)
        return await self._registry_certificate(
            tenant, her_id, Usage.ENCRYPTION, self._receiver_org_number, now
        )

    async def receiver_signing_certificate(
        self,
        tenant: Tenant,
        *,
        now: datetime | None = None,
        environment: TargetEnvironment | None = None,
    ) -> x509.Certificate:
        if tenant.receiver_override is not None:
            return self._override(tenant, now, environment).signing_certificate
        her_id = receiver_her_id(tenant, environment)
        return await self._registry_certificate(
            tenant, her_id, Usage.SIGNING, self._receiver_org_number, now
        )

    async def tenant_certificate(
        self, tenant: Tenant, usage: Usage, *, now: datetime | None = None
    ) -> x509.Certificate:
        """The certificate the registry publishes for the tenant's communication party (what
        KPR encrypts for, or verifies the tenant's signatures with), trusted like KPR's but
        belonging to the tenant's organisation number."""
        her_id = tenant.communication_party.her_id
        return await self._registry_certificate(tenant, her_id, usage, tenant.org_number, now)

    async def receiver_async_queue(
        self, tenant: Tenant, *, environment: TargetEnvironment | None = None
    ) -> str:
        her_id = receiver_her_id(tenant, environment)
        if tenant.receiver_override is not None:
            configured = tenant.receiver_override.async_queue
            own = _is_own(tenant, environment)
            return configured if configured and own else f"{her_id}_async"
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

    async def refresh_receiver(
        self, tenant: Tenant, *, environment: TargetEnvironment | None = None
    ) -> None:
        """Have the next lookups of the tenant's receiver ask the registry, not the cache.

        For a certificate from the registry that failed (an AppRec's signer is not the one
        held, a receiver certificate expired): KPR may have a new one. The cached answers are
        marked stale rather than deleted, so during a registry outage the lookups still answer
        (with the old certificate). Nothing to do with an override, or without a cache.
        """
        if tenant.receiver_override is None and isinstance(self._registry, CachedRegistry):
            await self._registry.mark_stale(receiver_her_id(tenant, environment))

    async def _registry_certificate(
        self,
        tenant: Tenant,
        her_id: str,
        usage: Usage,
        organisation_number: str,
        now: datetime | None,
    ) -> x509.Certificate:
        registry = self._need_registry(tenant)
        if usage is Usage.ENCRYPTION:
            lookup = registry.get_certificate_details_for_encryption
        else:
            lookup = registry.get_certificate_details_for_validating_signature
        certificate = await lookup(her_id)
        try:
            await self._vet(
                tenant,
                her_id,
                certificate,
                usage=usage,
                organisation_number=organisation_number,
                now=now,
            )
        except RevocationUnknownError:
            raise  # the CRL is the trouble, not the answer: asking again would not help
        except UntrustedCertificateError as untrusted:
            if not isinstance(registry, CachedRegistry):
                raise
            # The answer may be a cached one someone swapped: ask the registry itself. During
            # an outage the cache answers the same certificate, and it is refused again.
            _log.warning("%s; asking the Address Registry again", untrusted)
            await registry.mark_stale(her_id)
            fresh = await lookup(her_id)
            if fresh == certificate:
                raise
            await self._vet(
                tenant, her_id, fresh, usage=usage, organisation_number=organisation_number, now=now
            )
            certificate = fresh
        return certificate

    async def _vet(
        self,
        tenant: Tenant,
        her_id: str,
        certificate: x509.Certificate,
        *,
        usage: Usage,
        organisation_number: str,
        now: datetime | None,
    ) -> None:
        _check(tenant, her_id, certificate, usage, now)
        if self._trust is None:  # the constructor refuses a registry without one
            raise ReceiverUnresolvedError(f"tenant {tenant.id}: no trust for registry certificates")
        try:
            await self._trust.verify(certificate, organisation_number=organisation_number, now=now)
        except UntrustedCertificateError as exc:
            raise exc.in_context(
                f"tenant {tenant.id}: the registry's {usage.value} certificate of HER-id"
                f" {her_id} is not trusted"
            ) from exc

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
    def _override(
        tenant: Tenant, now: datetime | None, environment: TargetEnvironment | None
    ) -> ReceiverEndpoint:
        try:
            loaded = load_receiver_certificates(tenant, now=now)
        except TenancyError as exc:
            raise ReceiverUnresolvedError(str(exc)) from exc
        her_id = receiver_her_id(tenant, environment)
        return ReceiverEndpoint(
            her_id=her_id,
            encryption_certificate=loaded.encryption,
            signing_certificate=loaded.signing,
            async_queue=loaded.async_queue if _is_own(tenant, environment) else f"{her_id}_async",
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
