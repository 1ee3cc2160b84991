"""OAuth2 bearer JWTs from one configured issuer (HelseID, or a cooperative's own provider).

A token is accepted when its signature verifies with a key from the issuer's JWKS under an
allowed asymmetric algorithm, ``iss`` and ``aud`` match, and ``exp``/``nbf`` hold within a
small leeway. What the token then says (tenant claim, client claim, scopes) is handed to
``auth`` to map onto a tenant and one of its registered clients.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jwt

from kpr_gateway.intake.errors import AccessDeniedError, AuthenticationError
from kpr_gateway.intake.jwks import SUPPORTED_ALGORITHMS, JwksCache
from kpr_gateway.tenancy.model import Scope

# Three base64url parts; the signature part may be empty only for "none", refused anyway.
_JWT_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
DEFAULT_SCOPES: Final = {
    "kpr:submit": Scope.SUBMIT,
    "kpr:read": Scope.READ,
    "kpr:annual": Scope.ANNUAL,
}


def looks_like_jwt(credential: str) -> bool:
    """API keys have no dots; a compact JWS has exactly two."""
    return _JWT_SHAPE.fullmatch(credential) is not None


@dataclass(frozen=True)
class OAuthConfig:
    issuer: str
    audience: str
    tenant_claim: str = "kpr_tenant"
    client_claims: tuple[str, ...] = ("client_id", "azp")
    """Tried in order: the first present names the client."""
    scope_claim: str = "scope"
    scope_values: Mapping[str, Scope] = field(default_factory=lambda: dict(DEFAULT_SCOPES))
    algorithms: frozenset[str] = frozenset({"RS256", "ES256", "PS256"})
    leeway_seconds: float = 30.0
    max_token_bytes: int = 8192

    def __post_init__(self) -> None:
        if not self.algorithms or not self.algorithms <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        if not 0 <= self.leeway_seconds <= 300:
            raise ValueError("leeway_seconds must be between 0 and 300")
        if not self.client_claims:
            raise ValueError("name at least one client claim")


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    """What a verified token says about its bearer (ids only)."""

    tenant_claim_value: str
    client_id: str
    scopes: frozenset[Scope]


# PyJWT's errors, from the most specific: (class, reason code, text for the client).
_REFUSALS: Final[tuple[tuple[type[jwt.PyJWTError], str, str], ...]] = (
    (jwt.ExpiredSignatureError, "expired", "token expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid", "token not valid yet"),
    (jwt.InvalidAudienceError, "wrong_audience", "token audience is not this API"),
    (jwt.InvalidIssuerError, "wrong_issuer", "token issuer is not accepted"),
    (jwt.MissingRequiredClaimError, "missing_claim", "token lacks a required claim"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed", "token algorithm is not allowed"),
    (jwt.InvalidSignatureError, "bad_signature", "token signature does not verify"),
    (jwt.DecodeError, "malformed", "token cannot be read"),
    (jwt.PyJWTError, "invalid_token", "token is not valid"),
)


class TokenVerifier:
    def __init__(self, config: OAuthConfig, keys: JwksCache) -> None:
        self._config = config
        self._keys = keys

    @property
    def config(self) -> OAuthConfig:
        return self._config

    @property
    def keys(self) -> JwksCache:
        return self._keys

    async def verify(self, token: str) -> TokenIdentity:
        """The verified token's identity; ``AuthenticationError`` (401) when it is not valid,
        ``AccessDeniedError`` (403) when it is valid but names no tenant or client."""
        claims = await self._verified_claims(token)
        return TokenIdentity(
            tenant_claim_value=self._tenant_claim(claims),
            client_id=self._client_claim(claims),
            scopes=self._scopes(claims),
        )

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        config = self._config
        if len(token) > config.max_token_bytes:
            raise AuthenticationError("token too large", reason="token_too_large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError("token cannot be read", reason="malformed") from exc
        algorithm = header.get("alg")
        key_id = header.get("kid")
        context = {"key_id": key_id[:64] if isinstance(key_id, str) else ""}
        # Checked before any key lookup: "none" and HS* never reach the JWKS or PyJWT.
        if not isinstance(algorithm, str) or algorithm not in config.algorithms:
            raise AuthenticationError(
                "token algorithm is not allowed", reason="algorithm_not_allowed", context=context
            )
        if key_id is not None and not isinstance(key_id, str):
            raise AuthenticationError("token cannot be read", reason="malformed", context=context)
        key = await self._keys.key_for(key_id)
        try:
            return jwt.decode(
                token,
                key=key.key,
                # From configuration and the key, never from the token (RFC 8725, 2.1).
                algorithms=sorted(key.algorithms),
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            reason, text = _refusal(exc)
            raise AuthenticationError(text, reason=reason, context=context) from exc

    def _tenant_claim(self, claims: Mapping[str, Any]) -> str:
        name = self._config.tenant_claim
        value = claims.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an org number written as a JSON number
        if not isinstance(value, str) or not value:
            raise AccessDeniedError(
                "the token names no tenant",
                reason="no_tenant_claim",
                context={"tenant_claim": name},
            )
        return value

    def _client_claim(self, claims: Mapping[str, Any]) -> str:
        for name in self._config.client_claims:
            value = claims.get(name)
            if isinstance(value, str) and value:
                return value
        raise AccessDeniedError("the token names no client", reason="no_client_claim")

    def _scopes(self, claims: Mapping[str, Any]) -> frozenset[Scope]:
        raw = claims.get(self._config.scope_claim)
        if isinstance(raw, str):
            names = raw.split()
        elif isinstance(raw, list):
            names = [name for name in raw if isinstance(name, str)]
        else:
            names = []
        known = self._config.scope_values
        return frozenset(known[name] for name in names if name in known)


def _refusal(exc: jwt.PyJWTError) -> tuple[str, str]:
    for kind, reason, text in _REFUSALS:
        if isinstance(exc, kind):
            return reason, text
    return "invalid_token", "token is not valid"  # pragma: no cover - PyJWTError is last above
