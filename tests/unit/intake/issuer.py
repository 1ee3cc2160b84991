"""A local OAuth2 issuer for tests: its own keys, a JWKS served over real HTTP, tokens.

The JWKS is a Starlette app under uvicorn (the observability ``HealthServer``) on a free
loopback port; ``publish`` changes what it serves, which is how tests rotate keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpr_gateway.observability import HealthServer

ISSUER = "https://idp.test.kprgw"
AUDIENCE = "kprgw-intake"
JWKS_PATH = "/.well-known/jwks.json"


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One 2048-bit key per name for the whole test session (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    private: PrivateKey = field(repr=False)
    alg: str = "RS256"
    declare_alg: bool = True

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            entry = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            entry = ECAlgorithm.to_jwk(public, as_dict=True)
        entry.update({"kid": self.kid, "use": "sig"})
        if self.declare_alg:
            entry["alg"] = self.alg
        return entry


class JwksServer:
    """Serves ``{"keys": [...]}``; counts the fetches; can be made to fail."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.fetches = 0
        self.failing = False
        self._server: HealthServer | None = None

    def publish(self, *keys: IssuerKey) -> None:
        self.document = {"keys": [key.jwk() for key in keys]}

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}{JWKS_PATH}"

    async def _jwks(self, _: Request) -> Response:
        self.fetches += 1
        if self.failing:
            return Response("issuer down", status_code=503)
        return JSONResponse(self.document)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[JwksServer]:
        app = Starlette(routes=[Route(JWKS_PATH, self._jwks)])
        self._server = HealthServer(app, "127.0.0.1", 0)
        await self._server.start()
        try:
            yield self
        finally:
            await self._server.stop()


def claims(
    *,
    tenant: str | None = "bergen-claim",
    client: str | None = "gerica-bergen",
    scope: str | list[str] | None = "kpr:submit kpr:read",
    lifetime: float = 300,
    **changes: Any,
) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + int(lifetime),
        "jti": str(uuid.uuid4()),
        # HelseID-like pseudonymous subject: never to appear in an audit record.
        "sub": "pseudonym-sub-abcdef",
    }
    if tenant is not None:
        body["kpr_tenant"] = tenant
    if client is not None:
        body["client_id"] = client
    if scope is not None:
        body["scope"] = scope
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def token(key: IssuerKey, body: dict[str, Any], *, kid: str | None = "default") -> str:
    headers = {"kid": key.kid if kid == "default" else kid}
    if headers["kid"] is None:
        del headers["kid"]
    return jwt.encode(body, key.private, algorithm=key.alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(body: dict[str, Any]) -> str:
    """``alg: none``: header and payload, empty signature."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(body).encode())}."


def hmac_token(body: dict[str, Any], secret: bytes, kid: str) -> str:
    """HS256 keyed with ``secret`` (the classic attack uses the issuer's public key as it)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(body).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"
