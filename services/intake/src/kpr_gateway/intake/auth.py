"""EPJ client authentication: ``Authorization: Bearer <credential>``, bound to one tenant.

The credential is an API key (looked up by its SHA-256 in the tenants file) or, when an
OAuth2 issuer is configured, a JWT (anything shaped like one goes that way). Either way the
caller ends up as one registered client of one tenant, with its scopes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from kpr_gateway.intake.errors import AccessDeniedError, AuthenticationError
from kpr_gateway.intake.oauth import TokenVerifier, looks_like_jwt
from kpr_gateway.tenancy import Tenant, TenantsFile
from kpr_gateway.tenancy.model import OAuthClient, Scope


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    JWT = "jwt"


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: Tenant
    client_id: str
    """Our name of the client (``epj_clients[].id`` or ``oauth.clients[].id``)."""
    scopes: frozenset[Scope]
    method: AuthMethod
    rate_limit_per_second: int | None = None

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise AccessDeniedError(
                f"client {self.client_id} lacks the scope {scope.value}",
                reason="missing_scope",
                context={"scope": scope.value},
            )

    def require_any(self, scopes: tuple[Scope, ...]) -> None:
        """One of ``scopes`` is enough (reading an annual submission: read or annual)."""
        if len(scopes) == 1:
            self.require(scopes[0])
        elif self.scopes.isdisjoint(scopes):
            names = " or ".join(scope.value for scope in scopes)
            raise AccessDeniedError(
                f"client {self.client_id} lacks the scope {names}",
                reason="missing_scope",
                context={"scope": names},
            )


def api_key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _OAuthTenant:
    tenant: Tenant
    clients: dict[str, OAuthClient]


class Authenticator:
    """Maps a bearer credential to its client and tenant (API keys are never stored)."""

    def __init__(self, tenants: TenantsFile, *, tokens: TokenVerifier | None = None) -> None:
        self._tokens = tokens
        self._by_digest = {
            client.api_key_sha256: Caller(
                tenant,
                client.id,
                client.scopes,
                AuthMethod.API_KEY,
                client.rate_limit_per_second,
            )
            for tenant in tenants.tenants
            for client in tenant.epj_clients
        }
        self._by_claim = {
            tenant.oauth.tenant_claim_value: _OAuthTenant(
                tenant, {client.client_id: client for client in tenant.oauth.clients}
            )
            for tenant in tenants.tenants
            if tenant.oauth is not None
        }

    async def authenticate(self, authorization: str | None) -> Caller:
        scheme, _, credentials = (authorization or "").partition(" ")
        credential = credentials.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationError(
                "send the API key or token as 'Authorization: Bearer <credential>'",
                reason="no_credentials",
            )
        if looks_like_jwt(credential):
            return await self._by_token(credential)
        return self._by_api_key(credential)

    def _by_api_key(self, api_key: str) -> Caller:
        # Looked up by digest: lookup timing can at most tell something about a SHA-256 of a
        # guess, never about a stored key (keys are long random strings).
        caller = self._by_digest.get(api_key_digest(api_key))
        if caller is None:
            raise AuthenticationError("unknown API key", reason="unknown_api_key")
        return caller

    async def _by_token(self, token: str) -> Caller:
        if self._tokens is None:
            raise AuthenticationError(
                "bearer tokens are not accepted here; use an API key",
                reason="oauth_not_configured",
            )
        identity = await self._tokens.verify(token)
        context = {"token_client": identity.client_id[:128]}
        bound = self._by_claim.get(identity.tenant_claim_value)
        if bound is None:
            context["tenant_claim_value"] = identity.tenant_claim_value[:128]
            raise AccessDeniedError(
                "the token's tenant is not served here", reason="unknown_tenant", context=context
            )
        client = bound.clients.get(identity.client_id)
        if client is None:
            raise AccessDeniedError(
                "the token's client is not registered for its tenant",
                reason="client_not_registered",
                context={**context, "tenant": bound.tenant.id},
            )
        return Caller(
            bound.tenant,
            client.id,
            identity.scopes & client.scopes,
            AuthMethod.JWT,
            client.rate_limit_per_second,
        )
