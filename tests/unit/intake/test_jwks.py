"""Which keys of a JWKS are used, and how the cache fetches them (over real local HTTP)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from kpr_gateway.intake.errors import AuthenticationError, SigningKeysUnavailableError
from kpr_gateway.intake.jwks import JwksCache, JwksFetchError, JwksPolicy, parse_jwks
from kpr_gateway.intake.oauth import looks_like_jwt
from tests.unit.intake.harness import Clock
from tests.unit.intake.issuer import IssuerKey, JwksServer, ec_key, rsa_key

ALLOWED = frozenset({"RS256", "ES256", "PS256"})
RSA_A = IssuerKey("a", rsa_key("a"))
EC = IssuerKey("ec", ec_key("ec"), alg="ES256")


def jwk(key: IssuerKey, **changes: Any) -> dict[str, Any]:
    entry = key.jwk()
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def test_usable_keys_and_their_algorithms() -> None:
    keys = parse_jwks(
        {"keys": [jwk(RSA_A, alg=None), jwk(EC), jwk(IssuerKey("ps", rsa_key("a")), alg="PS256")]},
        ALLOWED,
    )
    assert keys["a"].algorithms == {"RS256", "PS256"}  # no "alg": what fits the key
    assert keys["ec"].algorithms == {"ES256"}
    assert keys["ps"].algorithms == {"PS256"}  # a declared "alg" narrows it


@pytest.mark.parametrize(
    "entry",
    [
        jwk(RSA_A, use="enc"),
        jwk(RSA_A, alg="HS256"),
        jwk(RSA_A, alg="RS512"),  # not among the allowed
        jwk(EC, alg="RS256"),  # an EC key cannot do RSA
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        jwk(RSA_A, kid=42),
        jwk(RSA_A, n="not base64!"),
        "not an object",
    ],
    ids=["enc", "hs256", "not-allowed", "wrong-type", "symmetric", "kid-int", "broken", "str"],
)
def test_unusable_keys_are_left_out(entry: Any) -> None:
    assert parse_jwks({"keys": [entry, jwk(EC)]}, ALLOWED).keys() == {"ec"}


def test_private_keys_and_short_rsa_keys_are_left_out() -> None:
    private = RSAAlgorithm.to_jwk(rsa_key("a"), as_dict=True) | {"kid": "private"}
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - the weak key under test
    weak = RSAAlgorithm.to_jwk(short, as_dict=True) | {"kid": "weak"}
    assert parse_jwks({"keys": [private, weak]}, ALLOWED) == {}


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, [], "keys"])
def test_a_document_without_a_key_list_is_refused(document: Any) -> None:
    with pytest.raises(JwksFetchError):
        parse_jwks(document, ALLOWED)


def test_jwt_shape() -> None:
    assert looks_like_jwt("eyJh.eyJi.c2ln")
    assert looks_like_jwt("eyJh.eyJi.")  # alg none: refused later, but as a token
    assert not looks_like_jwt("kprgw_abcDEF-123_x")
    assert not looks_like_jwt("a.b")
    assert not looks_like_jwt("a.b.c.d")
    assert not looks_like_jwt("a b.c.d")


async def test_without_kid_only_a_single_key_is_used() -> None:
    async with JwksServer().running() as server, httpx.AsyncClient() as http:
        server.publish(RSA_A)
        cache = JwksCache(server.url, client=http, algorithms=ALLOWED, clock=Clock())
        assert (await cache.key_for(None)).key_id == "a"
        server.publish(RSA_A, EC)
        cache = JwksCache(server.url, client=http, algorithms=ALLOWED, clock=Clock())
        with pytest.raises(AuthenticationError):
            await cache.key_for(None)


async def test_failures_to_fetch_are_unavailable_not_crashes() -> None:
    async with JwksServer().running() as server, httpx.AsyncClient() as http:
        clock = Clock()
        documents: list[dict[str, Any]] = [{"keys": "no list"}, {"keys": []}]
        for document in documents:
            server.document = document
            cache = JwksCache(server.url, client=http, algorithms=ALLOWED, clock=clock)
            with pytest.raises(SigningKeysUnavailableError):
                await cache.key_for("a")
        unreachable = JwksCache(
            "http://127.0.0.1:9/jwks", client=http, algorithms=ALLOWED, clock=clock
        )
        await unreachable.refresh()  # logged, not raised
        with pytest.raises(SigningKeysUnavailableError):
            await unreachable.key_for("a")


async def test_an_oversized_jwks_is_not_read() -> None:
    async with JwksServer().running() as server, httpx.AsyncClient() as http:
        server.document = {"keys": [jwk(RSA_A)] * 50}
        policy = JwksPolicy(max_bytes=4096)
        cache = JwksCache(server.url, client=http, algorithms=ALLOWED, policy=policy)
        with pytest.raises(SigningKeysUnavailableError):
            await cache.key_for("a")
        assert cache.fetches == 0


async def test_only_asymmetric_algorithms_can_be_configured() -> None:
    async with httpx.AsyncClient() as http:
        for algorithms in ({"HS256"}, {"none"}, {"RS256", "HS512"}, set()):
            with pytest.raises(ValueError, match="algorithms"):
                JwksCache("https://x", client=http, algorithms=frozenset(algorithms))
