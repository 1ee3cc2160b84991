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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, TypeVar

from kpr_gateway.registry import ReceiverDirectory, RegistryError
from kpr_gateway.runtime.component import StartupError
from kpr_gateway.tenancy import Tenant

if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_RENEW_INTERVAL_SECONDS: Final = 60.0

_log = logging.getLogger(__name__)
T = TypeVar("T")


class ReceiverStartupError(StartupError):
    """A tenant's receiver cannot be resolved at start-up; the text names the tenant."""


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
        self._held: dict[str, x509.Certificate] = {}
        self._asked_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def what(self) -> str:
        return f"the receiver's {self._kind.value} certificate"

    async def resolve(self, tenants: Iterable[Tenant], *, now: datetime | None = None) -> None:
        """Every tenant's certificate, checked for its use and validity at ``now``."""
        self._held.update(
            await resolve_each(tenants, self.what, lambda tenant: self._lookup(tenant, now))
        )

    def current(self, tenant_id: str) -> x509.Certificate:
        """The certificate held for the tenant (``KeyError`` before ``resolve``)."""
        return self._held[tenant_id]

    def items(self) -> list[tuple[str, x509.Certificate]]:
        return list(self._held.items())

    async def renew(
        self, tenant: Tenant, failed: x509.Certificate, *, now: datetime | None = None
    ) -> x509.Certificate | None:
        """A different certificate to try again with (checked at ``now``), or None to keep
        the failure.

        None for an override, within ``renew_interval_seconds`` of the last lookup, when
        the registry answers the same certificate or cannot be asked (then the error is
        logged, and the cache's stale answer, the same certificate, stands).
        """
        if tenant.receiver_override is not None:
            return None
        async with self._locks.setdefault(tenant.id, asyncio.Lock()):
            held = self._held.get(tenant.id)
            if held is not None and held != failed:
                return held  # another delivery renewed it while this one waited
            asked_at = self._asked_at.get(tenant.id)
            if asked_at is not None and self._clock() - asked_at < self._interval:
                return None
            self._asked_at[tenant.id] = self._clock()
            try:
                await self._directory.refresh_receiver(tenant)
                fresh = await self._lookup(tenant, now)
            except RegistryError as exc:
                _log.warning("tenant %s: %s cannot be renewed: %s", tenant.id, self.what, exc)
                return None
            if fresh == failed:
                return None
            self._held[tenant.id] = fresh
            _log.warning(
                "tenant %s: %s changed in the Address Registry (now serial %x)",
                tenant.id,
                self.what,
                fresh.serial_number,
            )
            return fresh

    async def _lookup(self, tenant: Tenant, now: datetime | None) -> x509.Certificate:
        if self._kind is ReceiverCertificate.ENCRYPTION:
            return await self._directory.receiver_encryption_certificate(tenant, now=now)
        return await self._directory.receiver_signing_certificate(tenant, now=now)
