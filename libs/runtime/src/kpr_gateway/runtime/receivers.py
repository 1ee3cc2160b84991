"""Each tenant's KPR receiver, resolved once at start-up, and renewed when a certificate fails.

Services resolve what they need of every tenant's receiver in ``Component.start()`` through
the context's ``ReceiverDirectory`` (``receiver_override`` first, else the Address Registry).
A tenant that cannot be resolved stops the start-up with a ``ReceiverStartupError`` naming
the tenant: no override and no registry, an unfit certificate, an inactive receiver, or the
registry unreachable with nothing cached (Kubernetes then restarts the service, which asks
again). What was resolved is kept for the life of the process, not looked up per message.

``ResolvedCertificates`` holds one receiver certificate per tenant (envelope: the encryption
certificate; receipts: the signing certificate). When a certificate from the registry fails,
``renew`` asks the registry again once (KPR may have rotated it), past the cache's freshness;
certificates from an override are files, renewed by a restart.

A message may name another environment than its tenant's (KPR Validering, for a test
submission of the annual round: ``tenancy.message_environment``). That receiver is resolved
when a message first needs it (``obtain``), through the same directory, and then kept like
the others: a gateway whose registry does not know KPR Validering still starts, and only such
a message waits (registry down, ``ReceiverErrors.down``) or is parked (``unresolved``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, TypeVar

from kpr_gateway.pipeline.errors import PermanentError, TransientError
from kpr_gateway.registry import ReceiverDirectory, RegistryError, RegistryUnavailableError
from kpr_gateway.runtime.component import StartupError
from kpr_gateway.tenancy import TargetEnvironment, Tenant

if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_RENEW_INTERVAL_SECONDS: Final = 60.0

_log = logging.getLogger(__name__)
T = TypeVar("T")


class ReceiverStartupError(StartupError):
    """A tenant's receiver cannot be resolved at start-up; the text names the tenant."""


@dataclass(frozen=True, slots=True)
class ReceiverErrors:
    """The service's own error classes for a receiver a message needs and cannot have."""

    down: type[TransientError]
    """The Address Registry could not be asked: the delivery is retried."""
    unresolved: type[PermanentError]
    """The receiver cannot be resolved (no such party, unfit certificate): parked."""


async def for_message(lookup: Awaitable[T], errors: ReceiverErrors) -> T:
    """``lookup``'s answer; a ``RegistryError`` becomes the service's own error."""
    try:
        return await lookup
    except RegistryUnavailableError as exc:
        raise errors.down(f"the receiver cannot be looked up now: {exc}") from exc
    except RegistryError as exc:
        raise errors.unresolved(f"the receiver cannot be resolved: {exc}") from exc


async def resolve_each(
    tenants: Iterable[Tenant], what: str, resolve: Callable[[Tenant], Awaitable[T]]
) -> dict[str, T]:
    """``resolve`` every tenant, by id; the first that fails stops it, naming ``what``."""
    resolved: dict[str, T] = {}
    for tenant in tenants:
        try:
            resolved[tenant.id] = await resolve(tenant)
        except RegistryError as exc:
            reason = str(exc).removeprefix(f"tenant {tenant.id}: ")
            raise ReceiverStartupError(
                f"tenant {tenant.id}: {what} cannot be resolved: {reason}"
            ) from exc
    return resolved


class ReceiverCertificate(StrEnum):
    ENCRYPTION = "encryption"
    SIGNING = "signing"


class ResolvedCertificates:
    """One of the receiver's certificates per tenant, resolved by ``resolve`` at start-up.

    ``renew`` is for a certificate that failed: a seal refused it, or an AppRec is not
    signed by it. Concurrent deliveries that failed on the same certificate share one
    lookup; after a lookup, the next is allowed only ``renew_interval_seconds`` later, so a
    run of broken or forged messages does not become a run of registry calls.
    """

    def __init__(
        self,
        directory: ReceiverDirectory,
        kind: ReceiverCertificate,
        *,
        renew_interval_seconds: float = DEFAULT_RENEW_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._kind = kind
        self._interval = renew_interval_seconds
        self._clock = clock
        # By tenant and environment: the tenant's own from ``resolve``, others from ``obtain``.
        self._held: dict[tuple[str, TargetEnvironment], x509.Certificate] = {}
        self._own: dict[str, TargetEnvironment] = {}
        self._asked_at: dict[tuple[str, TargetEnvironment], float] = {}
        self._locks: dict[tuple[str, TargetEnvironment], asyncio.Lock] = {}

    @property
    def what(self) -> str:
        return f"the receiver's {self._kind.value} certificate"

    async def resolve(self, tenants: Iterable[Tenant], *, now: datetime | None = None) -> None:
        """Every tenant's certificate, checked for its use and validity at ``now``."""
        listed = list(tenants)
        found = await resolve_each(
            listed, self.what, lambda tenant: self._lookup(tenant, tenant.environment, now)
        )
        for tenant in listed:
            self._own[tenant.id] = tenant.environment
            self._held[(tenant.id, tenant.environment)] = found[tenant.id]

    def current(self, tenant_id: str) -> x509.Certificate:
        """The certificate held for the tenant's own receiver (``KeyError`` before
        ``resolve``)."""
        return self._held[(tenant_id, self._own[tenant_id])]

    def items(self) -> list[tuple[str, x509.Certificate]]:
        """The tenants' own receivers' certificates, by tenant id."""
        return [(tenant_id, self.current(tenant_id)) for tenant_id in self._own]

    async def obtain(
        self, tenant: Tenant, environment: TargetEnvironment, *, now: datetime | None = None
    ) -> x509.Certificate:
        """The certificate of the tenant's receiver in ``environment``: held, or looked up
        now and kept (another environment than the tenant's own). Raises ``RegistryError``."""
        key = (tenant.id, environment)
        held = self._held.get(key)
        if held is not None:
            return held
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._held.get(key)
            if held is None:
                held = self._held[key] = await self._lookup(tenant, environment, now)
                _log.info("tenant %s: %s of %s resolved", tenant.id, self.what, environment.value)
            return held

    async def renew(
        self,
        tenant: Tenant,
        failed: x509.Certificate,
        *,
        now: datetime | None = None,
        environment: TargetEnvironment | None = None,
    ) -> x509.Certificate | None:
        """A different certificate to try again with (checked at ``now``), or None to keep
        the failure; of the receiver in ``environment``, else of the tenant's own.

        None for an override, within ``renew_interval_seconds`` of the last lookup, when
        the registry answers the same certificate or cannot be asked (then the error is
        logged, and the cache's stale answer, the same certificate, stands).
        """
        if tenant.receiver_override is not None:
            return None
        environment = environment or tenant.environment
        key = (tenant.id, environment)
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._held.get(key)
            if held is not None and held != failed:
                return held  # another delivery renewed it while this one waited
            asked_at = self._asked_at.get(key)
            if asked_at is not None and self._clock() - asked_at < self._interval:
                return None
            self._asked_at[key] = self._clock()
            try:
                await self._directory.refresh_receiver(tenant, environment=environment)
                fresh = await self._lookup(tenant, environment, now)
            except RegistryError as exc:
                _log.warning("tenant %s: %s cannot be renewed: %s", tenant.id, self.what, exc)
                return None
            if fresh == failed:
                return None
            self._held[key] = fresh
            _log.warning(
                "tenant %s: %s changed in the Address Registry (now serial %x)",
                tenant.id,
                self.what,
                fresh.serial_number,
            )
            return fresh

    async def _lookup(
        self, tenant: Tenant, environment: TargetEnvironment, now: datetime | None
    ) -> x509.Certificate:
        if self._kind is ReceiverCertificate.ENCRYPTION:
            return await self._directory.receiver_encryption_certificate(
                tenant, now=now, environment=environment
            )
        return await self._directory.receiver_signing_certificate(
            tenant, now=now, environment=environment
        )
