"""The issuer's signing keys (JWKS): fetched over HTTPS, cached, refreshed for rotation.

Keys are refreshed when the cache is older than ``max_age_seconds`` and when a token names
a key id the cache does not know (the issuer rotated). The second kind is throttled by
``min_refresh_seconds`` so that tokens with made-up key ids cannot make us hammer the issuer.
When a refresh fails the keys already held stay in use; with none held, the caller gets 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK, PyJWTError

from kpr_gateway.intake.errors import AuthenticationError, SigningKeysUnavailableError

_log = logging.getLogger(__name__)

# Asymmetric algorithms only: "none" and HS* (a shared secret) are never accepted.
SUPPORTED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MIN_RSA_BITS: Final = 2048
_RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHM_OF_CURVE: Final = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SigningKey:
    """One verification key and the algorithms it may verify (configured ∩ what fits it)."""

    key_id: str | None
    key: PublicKey = field(repr=False)
    algorithms: frozenset[str]


@dataclass(frozen=True, slots=True)
class JwksPolicy:
    max_age_seconds: float = 300.0
    min_refresh_seconds: float = 10.0
    timeout_seconds: float = 5.0
    max_bytes: int = 512 * 1024


class JwksCache:
    """The keys of one issuer, by key id."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient,
        algorithms: frozenset[str],
        policy: JwksPolicy = JwksPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        unsupported = algorithms - SUPPORTED_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(f"algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        self._url = url
        self._client = client
        self._algorithms = algorithms
        self._policy = policy
        self._clock = clock
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """Successful fetches so far (for tests and the curious)."""

    @property
    def key_ids(self) -> frozenset[str | None]:
        return frozenset(self._keys)

    async def key_for(self, key_id: str | None) -> SigningKey:
        """The key a token names; refreshing first when stale or when the id is new."""
        if self._is_stale():
            await self._refresh(reason="stale")
        found = self._lookup(key_id)
        if found is None and self._may_refresh_for_unknown_key():
            await self._refresh(reason="unknown key id")
            found = self._lookup(key_id)
        if found is None:
            if not self._keys:
                raise SigningKeysUnavailableError("the token issuer's keys are unavailable")
            raise AuthenticationError(
                "token signed with an unknown key",
                reason="unknown_key_id",
                context={"key_id": (key_id or "")[:64]},
            )
        return found

    async def refresh(self) -> None:
        """Fetch the keys now (at start-up); failures are logged, not raised."""
        await self._refresh(reason="start")

    def _lookup(self, key_id: str | None) -> SigningKey | None:
        if key_id is not None:
            return self._keys.get(key_id)
        # A token without "kid" can only mean the issuer's one and only key.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _is_stale(self) -> bool:
        if self._fetched_at is None:
            return self._may_refresh_for_unknown_key()
        return self._clock() - self._fetched_at >= self._policy.max_age_seconds and (
            self._may_refresh_for_unknown_key()
        )

    def _may_refresh_for_unknown_key(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self._policy.min_refresh_seconds
        )

    async def _refresh(self, *, reason: str) -> None:
        attempted_before = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted_before:
                return  # another request refreshed while this one waited
            self._attempted_at = self._clock()
            try:
                document = await self._fetch()
                keys = parse_jwks(document, self._algorithms)
            except JwksFetchError as exc:
                _log.warning(
                    "JWKS refresh (%s) failed, keeping %d key(s): %s", reason, len(self._keys), exc
                )
                return
            self._keys = keys
            self._fetched_at = self._attempted_at
            self.fetches += 1
            _log.info("JWKS refreshed (%s): %d key(s)", reason, len(keys))

    async def _fetch(self) -> Any:
        try:
            async with self._client.stream(
                "GET",
                self._url,
                headers={"Accept": "application/json"},
                timeout=self._policy.timeout_seconds,
            ) as response:
                if response.status_code != 200:
                    raise JwksFetchError(f"HTTP {response.status_code} from the JWKS endpoint")
                body = bytearray()
                async for part in response.aiter_bytes():
                    body += part
                    if len(body) > self._policy.max_bytes:
                        raise JwksFetchError(f"JWKS larger than {self._policy.max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise JwksFetchError(f"{type(exc).__name__} fetching the JWKS") from exc
        try:
            return json.loads(bytes(body))
        except (ValueError, RecursionError) as exc:
            raise JwksFetchError("the JWKS is not JSON") from exc


class JwksFetchError(Exception):
    """Internal to this module: a refresh that did not produce a key set."""


def parse_jwks(document: Any, algorithms: frozenset[str]) -> dict[str | None, SigningKey]:
    """The usable signing keys of a JWKS; keys that fit no allowed algorithm are left out."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksFetchError("the JWKS has no 'keys' list")
    keys: dict[str | None, SigningKey] = {}
    for position, entry in enumerate(document["keys"]):
        key = _signing_key(entry, algorithms)
        if key is None:
            _log.info("JWKS key %d left out (not a usable signing key)", position)
            continue
        keys[key.key_id] = key
    return keys


def _signing_key(entry: Any, allowed: frozenset[str]) -> SigningKey | None:
    if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
        return None
    if "d" in entry or entry.get("kty") not in ("RSA", "EC"):
        return None  # a private key has no business in a JWKS; symmetric keys are never used
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    try:
        key = PyJWK(dict(entry)).key
    except (PyJWTError, ValueError, TypeError):
        return None
    algorithms = _algorithms_for(key) & allowed
    declared = entry.get("alg")
    if declared is not None:
        algorithms &= {declared}
    if not algorithms:
        return None
    return SigningKey(kid, key, frozenset(algorithms))


def _algorithms_for(key: Any) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS if key.key_size >= MIN_RSA_BITS else frozenset()
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = _EC_ALGORITHM_OF_CURVE.get(key.curve.name)
        return frozenset({algorithm}) if algorithm else frozenset()
    return frozenset()
