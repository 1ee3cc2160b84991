"""OAuth2 bearer tokens against a local issuer whose JWKS is served over real HTTP."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.intake.jwks import JwksCache, JwksPolicy
from kpr_gateway.tenancy import TenantsFile
from tests.unit.intake.harness import (
    BERGEN_CLAIM,
    READER_CLIENT,
    TRONDHEIM_CLAIM,
    VENDOR_CLIENT,
    Clock,
    LogLines,
    Published,
    captured_logs,
    intake_app,
    oauth_tenants,
)
from tests.unit.intake.issuer import (
    IssuerKey,
    JwksServer,
    claims,
    ec_key,
    hmac_token,
    rsa_key,
    token,
    unsigned_token,
)

KEY_A = IssuerKey("key-a", rsa_key("a"))
KEY_B = IssuerKey("key-b", rsa_key("b"))
KEY_EC = IssuerKey("key-ec", ec_key("ec"), alg="ES256")
KEY_PS = IssuerKey("key-ps", rsa_key("ps"), alg="PS256", declare_alg=False)
STRANGER = IssuerKey("key-a", rsa_key("stranger"))  # someone else's key under a known kid


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def tenants(world: DemoWorld) -> TenantsFile:
    return oauth_tenants(world)


@dataclass
class Api:
    client: httpx.AsyncClient
    keys: JwksCache
    jwks: JwksServer
    clock: Clock
    logs: LogLines
    published: Published

    async def post_event(self, bearer: str, seed: int = 1) -> httpx.Response:
        body = event(random.Random(seed), "4601")
        return await self.client.post(
            "/v1/events", json=body, headers={"Authorization": f"Bearer {bearer}"}
        )

    async def read(self, bearer: str, event_id: str) -> httpx.Response:
        return await self.client.get(
            f"/v1/events/{event_id}", headers={"Authorization": f"Bearer {bearer}"}
        )


async def running_api(tenants: TenantsFile, policy: JwksPolicy | None = None) -> AsyncIterator[Api]:
    clock = Clock()
    published = Published()
    async with JwksServer().running() as jwks:
        jwks.publish(KEY_A, KEY_EC, KEY_PS)
        async with intake_app(
            tenants,
            FakeAsyncRedis(),
            jwks_url=jwks.url,
            clock=clock,
            policy=policy,
            limiter_clock=Clock(),  # frozen: no refill, so rate limits are exact
            published=published,
        ) as (client, keys, _):
            assert keys is not None
            with captured_logs() as logs:
                yield Api(client, keys, jwks, clock, logs, published)


@pytest.fixture
async def api(tenants: TenantsFile) -> AsyncIterator[Api]:
    async for running in running_api(tenants):
        yield running


def bergen(key: IssuerKey = KEY_A, /, **changes: Any) -> str:
    """A token of the vendor's client for bergen, signed with ``key``."""
    return token(key, claims(tenant=BERGEN_CLAIM, client=VENDOR_CLIENT, **changes))


async def test_a_valid_token_submits_and_reads_for_its_tenant(api: Api) -> None:
    submitted = await api.post_event(bergen())
    assert submitted.status_code == 202, submitted.text
    event_id = submitted.json()["event_id"]
    # the event travels with our name of the client that sent it, not the token's claim
    [accepted] = await api.published.events()
    assert (str(accepted.event_id), accepted.client_id) == (event_id, "gerica-bergen")
    assert (await api.read(bergen(), event_id)).status_code == 200
    # The same vendor client, for the other municipality, does not see it (and is audited).
    trondheim = token(KEY_A, claims(tenant=TRONDHEIM_CLAIM, client=VENDOR_CLIENT))
    assert (await api.read(trondheim, event_id)).status_code == 404
    [record] = api.logs.audit()
    assert record["audit_event"] == "cross_tenant_read"
    assert (record["tenant"], record["client"], record["owner_tenant"]) == (
        "trondheim",
        "gerica-trondheim",
        "bergen",
    )
    assert record["auth_method"] == "jwt"


@pytest.mark.parametrize("key", [KEY_EC, KEY_PS], ids=["ES256", "PS256"])
async def test_ec_and_pss_keys_verify(api: Api, key: IssuerKey) -> None:
    assert (await api.post_event(bergen(key))).status_code == 202


async def test_scope_claim_as_a_list_and_numeric_org_number(api: Api) -> None:
    body = claims(tenant=None, client=VENDOR_CLIENT, scope=["kpr:submit"], kpr_tenant=964338531)
    assert (await api.post_event(token(KEY_A, body))).status_code == 202


async def test_api_keys_keep_working_beside_tokens(api: Api, world: DemoWorld) -> None:
    assert (await api.post_event(world.api_keys["bergen"])).status_code == 202
    assert (await api.post_event(bergen(), seed=2)).status_code == 202
    assert [e.client_id for e in await api.published.events()] == ["bergen-epj", "gerica-bergen"]


async def test_rotation_fetches_the_new_key_and_drops_the_old(api: Api) -> None:
    assert (await api.post_event(bergen(KEY_A))).status_code == 202
    fetches = api.jwks.fetches
    # The issuer rotates: key B published, A still there for tokens in flight.
    api.jwks.publish(KEY_A, KEY_B)
    assert (await api.post_event(bergen(KEY_B), seed=2)).status_code == 202
    assert api.jwks.fetches == fetches + 1  # the unknown kid made one refresh
    assert "key-b" in api.keys.key_ids
    # A is withdrawn; once the cache is old enough to refresh, A's tokens stop working.
    api.jwks.publish(KEY_B)
    api.clock.now += JwksPolicy().max_age_seconds
    refused = await api.post_event(bergen(KEY_A), seed=3)
    assert refused.status_code == 401
    assert api.logs.audit()[-1]["reason"] == "unknown_key_id"
    assert (await api.post_event(bergen(KEY_B), seed=4)).status_code == 202


async def test_unknown_key_ids_refresh_at_most_once_per_interval(tenants: TenantsFile) -> None:
    async for api in running_api(tenants, JwksPolicy(min_refresh_seconds=10)):
        assert (await api.post_event(bergen())).status_code == 202
        fetches = api.jwks.fetches
        api.clock.now += 10  # the first fetch no longer holds refreshes back
        for kid in ("made-up-1", "made-up-2", "made-up-3"):
            forged = token(KEY_A, claims(tenant=BERGEN_CLAIM, client=VENDOR_CLIENT), kid=kid)
            assert (await api.post_event(forged)).status_code == 401
        assert api.jwks.fetches == fetches + 1
        api.clock.now += 10
        api.jwks.publish(KEY_A, KEY_B)
        assert (await api.post_event(bergen(KEY_B), seed=2)).status_code == 202


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": 1_000_000_000}, "expired"),
        ({"lifetime": -60}, "expired"),  # beyond the 30 s leeway
        ({"nbf": 4_000_000_000}, "not_yet_valid"),
        ({"aud": "another-api"}, "wrong_audience"),
        ({"iss": "https://evil.example"}, "wrong_issuer"),
        ({"exp": None}, "missing_claim"),
    ],
)
async def test_invalid_tokens_are_401_and_audited(
    api: Api, changes: dict[str, Any], reason: str
) -> None:
    response = await api.post_event(bergen(**changes))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    [record] = api.logs.audit()
    assert (record["audit_event"], record["reason"]) == ("authentication_failed", reason)
    assert record["route"] == "/v1/events"
    assert record["key_id"] == "key-a"


async def test_expiry_within_the_leeway_is_accepted(api: Api) -> None:
    assert (await api.post_event(bergen(lifetime=-10))).status_code == 202


async def test_alg_none_and_hmac_are_refused_without_touching_the_jwks(api: Api) -> None:
    fetches = api.jwks.fetches
    body = claims(tenant=BERGEN_CLAIM, client=VENDOR_CLIENT)
    public_pem = KEY_A.jwk()["n"].encode()  # the public key material as an HMAC secret
    for forged in (unsigned_token(body), hmac_token(body, public_pem, "key-a")):
        response = await api.post_event(forged)
        assert response.status_code == 401
    assert [r["reason"] for r in api.logs.audit()] == ["algorithm_not_allowed"] * 2
    assert api.jwks.fetches == fetches


async def test_a_signature_by_another_key_under_a_known_kid_is_refused(api: Api) -> None:
    response = await api.post_event(bergen(STRANGER))
    assert response.status_code == 401
    assert api.logs.audit()[0]["reason"] == "bad_signature"


async def test_garbage_and_oversized_tokens_are_401(api: Api) -> None:
    for bearer in ("aaa.bbb.ccc", "x" * 10_000 + ".y.z"):
        assert (await api.post_event(bearer)).status_code == 401
    assert [r["reason"] for r in api.logs.audit()] == ["malformed", "token_too_large"]


@pytest.mark.parametrize(
    ("tenant", "client", "reason"),
    [
        ("999999999", VENDOR_CLIENT, "unknown_tenant"),
        (None, VENDOR_CLIENT, "no_tenant_claim"),
        (TRONDHEIM_CLAIM, READER_CLIENT, "client_not_registered"),
        (BERGEN_CLAIM, None, "no_client_claim"),
    ],
)
async def test_a_valid_token_for_no_tenant_of_ours_is_403_and_audited(
    api: Api, tenant: str | None, client: str | None, reason: str
) -> None:
    response = await api.post_event(token(KEY_A, claims(tenant=tenant, client=client)))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    [record] = api.logs.audit()
    assert (record["audit_event"], record["reason"]) == ("access_denied", reason)
    if reason == "unknown_tenant":
        assert record["tenant_claim_value"] == "999999999"


async def test_scopes_are_the_token_s_narrowed_by_the_client_s(api: Api) -> None:
    read_only_token = bergen(scope="kpr:read")
    assert (await api.post_event(read_only_token)).status_code == 403
    # The reader client may only read, whatever its token says.
    reader = token(KEY_A, claims(tenant=BERGEN_CLAIM, client=READER_CLIENT))
    assert (await api.post_event(reader)).status_code == 403
    submitted = await api.post_event(bergen(), seed=5)
    assert (await api.read(reader, submitted.json()["event_id"])).status_code == 200
    records = api.logs.audit()
    assert [(r["reason"], r["client"], r["scope"]) for r in records] == [
        ("missing_scope", "gerica-bergen", "submit"),
        ("missing_scope", "reader-bergen", "submit"),
    ]


async def test_the_client_s_own_rate_limit_applies(api: Api) -> None:
    statuses = [(await api.post_event(bergen(), seed=i)).status_code for i in range(5)]
    assert statuses == [202, 202, 202, 429, 429]  # gerica-bergen: 3 per second


async def test_issuer_down_before_any_key_is_503_then_recovers(tenants: TenantsFile) -> None:
    async for api in running_api(tenants):
        api.jwks.failing = True
        down = await api.post_event(bergen())
        assert down.status_code == 503
        assert down.headers["retry-after"] == "1"
        api.jwks.failing = False
        assert (await api.post_event(bergen())).status_code == 202


async def test_issuer_down_later_keeps_the_cached_keys(api: Api) -> None:
    assert (await api.post_event(bergen())).status_code == 202
    api.jwks.failing = True
    api.clock.now += JwksPolicy().max_age_seconds + 1
    assert (await api.post_event(bergen(), seed=2)).status_code == 202
    assert '"JWKS refresh (stale) failed' in api.logs.text


async def test_tokens_are_refused_where_no_issuer_is_configured(
    tenants: TenantsFile, world: DemoWorld
) -> None:
    async with intake_app(tenants, FakeAsyncRedis(), jwks_url=None) as (client, _, _):
        with captured_logs() as logs:
            response = await client.post(
                "/v1/events",
                json=event(random.Random(1), "4601"),
                headers={"Authorization": f"Bearer {bergen()}"},
            )
        assert response.status_code == 401
        assert logs.audit()[0]["reason"] == "oauth_not_configured"


async def test_audit_records_hold_no_credentials_nor_personal_data(
    api: Api, world: DemoWorld
) -> None:
    good = bergen()
    body = event(random.Random(9), "4601")
    await api.client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {good}"})
    await api.post_event(bergen(aud="x"))
    await api.post_event("kprgw_not-a-real-key")
    await api.read(world.api_keys["trondheim"], body["event_id"])
    await api.post_event(token(KEY_A, claims(tenant="12345678901", client=VENDOR_CLIENT)))
    records = api.logs.audit()
    assert [r["audit_event"] for r in records] == [
        "authentication_failed",
        "authentication_failed",
        "cross_tenant_read",
        "access_denied",
    ]
    text = api.logs.text
    for secret in (good, world.api_keys["trondheim"], "kprgw_not-a-real-key"):
        assert secret not in text
    assert body["person"]["national_id"] not in text
    assert "pseudonym-sub-abcdef" not in text  # the token's subject
    assert "12345678901" not in text  # shaped like a national id: redacted
