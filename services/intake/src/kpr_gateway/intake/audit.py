"""Audit records: failed authentication, refused access and reads of another tenant's ids.

One log line per record on the logger ``kprgw.audit``; ``setup_logging`` makes it a JSON
object whose fields are the ``extra`` values below. Records carry ids only (tenant, client,
event or message id, key id, reason code): never a credential, never personal data, and no
request body. The client's network address is left out too (it can identify a person).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Final

from prometheus_client import Counter
from redis.exceptions import RedisError

from kpr_gateway.intake.auth import Caller
from kpr_gateway.ledger import KeySpace, Ledger, LedgerError

AUDIT_LOGGER: Final = "kprgw.audit"
_log = logging.getLogger(__name__)


class AuditEvent(StrEnum):
    AUTHENTICATION_FAILED = "authentication_failed"
    ACCESS_DENIED = "access_denied"
    CROSS_TENANT_READ = "cross_tenant_read"
    ANNUAL_REPLACED = "annual_replaced"


class AuditLog:
    def __init__(
        self, *, counter: Counter | None = None, logger: logging.Logger | None = None
    ) -> None:
        self._log = logger or logging.getLogger(AUDIT_LOGGER)
        self._counter = counter

    def authentication_failed(
        self, *, reason: str, route: str, http_method: str, context: Mapping[str, str]
    ) -> None:
        self._record(
            AuditEvent.AUTHENTICATION_FAILED,
            logging.WARNING,
            {"reason": reason, "route": route, "http_method": http_method, **context},
        )

    def access_denied(
        self,
        *,
        reason: str,
        route: str,
        http_method: str,
        context: Mapping[str, str],
        caller: Caller | None = None,
    ) -> None:
        fields = {"reason": reason, "route": route, "http_method": http_method, **context}
        if caller is not None:
            fields.update(_who(caller))
        self._record(AuditEvent.ACCESS_DENIED, logging.WARNING, fields)

    def cross_tenant_read(
        self, *, caller: Caller, owner_tenant: str, resource: str, resource_id: str, route: str
    ) -> None:
        """A client asked for an id that exists, but for another tenant (it was told 404)."""
        self._record(
            AuditEvent.CROSS_TENANT_READ,
            logging.WARNING,
            {
                **_who(caller),
                "owner_tenant": owner_tenant,
                "resource": resource,
                "resource_id": resource_id,
                "route": route,
                "http_method": "GET",
            },
        )

    def annual_replaced(
        self, *, caller: Caller, submission_id: str, replaces: str, year: int, reason: str
    ) -> None:
        """A new annual submission replaces the year's acknowledged one (FHI asks that the
        municipality talk to them first): who did it, and the reason they gave."""
        self._record(
            AuditEvent.ANNUAL_REPLACED,
            logging.WARNING,
            {
                **_who(caller),
                "submission_id": submission_id,
                "replaces": replaces,
                "year": str(year),
                "reason": reason,
            },
            outcome="allowed",
        )

    def _record(
        self, event: AuditEvent, level: int, fields: Mapping[str, str], *, outcome: str = "denied"
    ) -> None:
        if self._counter is not None:
            self._counter.labels(event=event.value).inc()
        extra = {"audit_event": event.value, "outcome": outcome, **fields}
        described = " ".join(f"{key}={value}" for key, value in sorted(fields.items()))
        self._log.log(level, "audit %s: %s", event.value, described, extra=extra)


def _who(caller: Caller) -> dict[str, str]:
    return {
        "tenant": caller.tenant.id,
        "client": caller.client_id,
        "auth_method": caller.method.value,
    }


class ForeignIds:
    """Which other tenant holds an id a client asked for, so the read can be audited.

    Asked only after the caller's own lookup found nothing, and always with the same calls
    whether or not the id exists elsewhere, so the answer's timing says nothing. A failure
    here costs the audit record, never the answer (which is 404 either way).
    """

    def __init__(self, ledger: Ledger, keys: KeySpace, tenant_ids: Sequence[str]) -> None:
        self._ledger = ledger
        self._keys = keys
        self._tenant_ids = tuple(tenant_ids)

    async def event_owner(self, tenant_id: str, event_id: str) -> str | None:
        return await self._owner(tenant_id, lambda other: self._keys.event(other, event_id))

    async def annual_submission_owner(self, tenant_id: str, submission_id: str) -> str | None:
        return await self._owner(
            tenant_id, lambda other: self._keys.annual_submission(other, submission_id)
        )

    async def _owner(self, tenant_id: str, key_of: Callable[[str], str]) -> str | None:
        """The other tenant whose ``key_of(tenant)`` exists: one round trip for all of them."""
        others = [other for other in self._tenant_ids if other != tenant_id]
        if not others:
            return None
        try:
            async with self._ledger.redis.pipeline(transaction=False) as pipe:
                for other in others:
                    pipe.exists(key_of(other))
                found = await pipe.execute()
        except RedisError as exc:
            _log.warning("cross-tenant check failed (%s)", type(exc).__name__)
            return None
        return next((o for o, hit in zip(others, found, strict=True) if int(hit)), None)

    async def message_owner(self, tenant_id: str, msg_id: str) -> str | None:
        try:
            owner = await self._ledger.tenant_of_message(msg_id)
        except LedgerError as exc:
            _log.warning("cross-tenant check failed (%s)", type(exc).__name__)
            return None
        return owner if owner is not None and owner != tenant_id else None
