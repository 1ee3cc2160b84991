"""The door of every API route: who is calling, may they, how fast; refusals are audited."""

# No "from __future__ import annotations": FastAPI reads the dependency's signature at run time.

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request

from kpr_gateway.intake.audit import AuditLog, ForeignIds
from kpr_gateway.intake.auth import Authenticator, Caller
from kpr_gateway.intake.errors import AccessDeniedError, AuthenticationError
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.intake.tracing import template_of
from kpr_gateway.tenancy.model import Scope


class Gatekeeper:
    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        audit: AuditLog,
        foreign: ForeignIds,
    ) -> None:
        self._authenticator = authenticator
        self._limiter = limiter
        self._audit = audit
        self._foreign = foreign

    def caller_with(self, scope: Scope, *alternatives: Scope) -> Callable[..., Awaitable[Caller]]:
        """A FastAPI dependency: the authenticated, rate-limited caller holding ``scope`` (or
        one of ``alternatives``)."""

        async def caller(
            request: Request,
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        ) -> Caller:
            return await self.admit(request, authorization, scope, *alternatives)

        return caller

    async def admit(
        self, request: Request, authorization: str | None, scope: Scope, *alternatives: Scope
    ) -> Caller:
        route, method = route_template(request), request.method
        try:
            found = await self._authenticator.authenticate(authorization)
        except AuthenticationError as exc:
            self._audit.authentication_failed(
                reason=exc.reason, route=route, http_method=method, context=exc.context
            )
            raise
        except AccessDeniedError as exc:
            self._audit.access_denied(
                reason=exc.reason, route=route, http_method=method, context=exc.context
            )
            raise
        await self._limiter.check(found.client_id, found.rate_limit_per_second)
        try:
            if alternatives:
                found.require_any((scope, *alternatives))
            else:
                found.require(scope)
        except AccessDeniedError as exc:
            self._audit.access_denied(
                reason=exc.reason,
                route=route,
                http_method=method,
                context=exc.context,
                caller=found,
            )
            raise
        return found

    async def missing_event(self, request: Request, who: Caller, event_id: uuid.UUID) -> None:
        """The caller's tenant has no such event: audit it if another tenant has."""
        owner = await self._foreign.event_owner(who.tenant.id, str(event_id))
        if owner is not None:
            self._audit.cross_tenant_read(
                caller=who,
                owner_tenant=owner,
                resource="event",
                resource_id=str(event_id),
                route=route_template(request),
            )

    async def missing_message(self, request: Request, who: Caller, msg_id: uuid.UUID) -> None:
        """The caller's tenant has no such KPR message: audit it if another tenant has."""
        owner = await self._foreign.message_owner(who.tenant.id, str(msg_id))
        if owner is not None:
            self._audit.cross_tenant_read(
                caller=who,
                owner_tenant=owner,
                resource="message",
                resource_id=str(msg_id),
                route=route_template(request),
            )

    async def missing_annual_submission(
        self, request: Request, who: Caller, submission_id: uuid.UUID
    ) -> None:
        """The caller's tenant has no such annual submission: audit it if another tenant has."""
        owner = await self._foreign.annual_submission_owner(who.tenant.id, str(submission_id))
        if owner is not None:
            self._audit.cross_tenant_read(
                caller=who,
                owner_tenant=owner,
                resource="annual_submission",
                resource_id=str(submission_id),
                route=route_template(request),
            )


def route_template(request: Request) -> str:
    """The matched route's template ("/v1/events/{event_id}"): ids never reach audit or spans."""
    return template_of(request.scope)
