"""EPJ client authentication: ``Authorization: Bearer <api key>``, bound to one tenant."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from kpr_gateway.intake.errors import ForbiddenError, UnauthenticatedError
from kpr_gateway.tenancy import Tenant, TenantsFile
from kpr_gateway.tenancy.model import EpjClient, Scope


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: Tenant
    client: EpjClient

    def require(self, scope: Scope) -> None:
        if scope not in self.client.scopes:
            raise ForbiddenError(f"client {self.client.id} lacks the scope {scope.value}")


def api_key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class Authenticator:
    """Maps the SHA-256 of an API key to its client and tenant (keys are never stored)."""

    def __init__(self, tenants: TenantsFile) -> None:
        self._by_digest = {
            client.api_key_sha256: Caller(tenant, client)
            for tenant in tenants.tenants
            for client in tenant.epj_clients
        }

    def authenticate(self, authorization: str | None) -> Caller:
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise UnauthenticatedError("send the API key as 'Authorization: Bearer <key>'")
        digest = api_key_digest(credentials.strip())
        caller = self._by_digest.get(digest)
        # compare_digest on the found entry keeps the check constant-time in the key's content
        if caller is None or not hmac.compare_digest(caller.client.api_key_sha256, digest):
            raise UnauthenticatedError("unknown API key")
        return caller
