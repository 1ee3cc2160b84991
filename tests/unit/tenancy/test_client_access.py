"""EPJ client settings in the tenants file: OAuth2 clients and per-client rate limits."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from kpr_gateway.tenancy import TenantFileError, load_tenants
from kpr_gateway.tenancy.model import Scope
from tests.unit.tenancy.test_tenancy import bergen, trondheim, write


def api_client(name: str, **changes: Any) -> dict[str, Any]:
    client = {"id": name, "api_key_sha256": hashlib.sha256(name.encode()).hexdigest()}
    client.update(changes)
    return client


def oauth(value: str, *clients: dict[str, Any]) -> dict[str, Any]:
    return {"tenant_claim_value": value, "clients": list(clients)}


def test_oauth_clients_and_rate_limits_load(tmp_path: Path) -> None:
    tenant = bergen(
        epj_clients=[api_client("gerica", rate_limit_per_second=50)],
        oauth=oauth(
            "964338531",
            {"id": "gerica-oauth", "client_id": "helseid-gerica", "scopes": ["submit"]},
            {"id": "dashboard", "client_id": "helseid-dashboard", "rate_limit_per_second": 5},
        ),
    )
    loaded = load_tenants(write(tmp_path, {"tenants": [tenant, trondheim()]})).by_id("bergen")
    assert loaded.epj_clients[0].rate_limit_per_second == 50
    assert loaded.oauth is not None
    assert loaded.oauth.tenant_claim_value == "964338531"
    first, second = loaded.oauth.clients
    assert (first.scopes, first.rate_limit_per_second) == (frozenset({Scope.SUBMIT}), None)
    assert second.scopes == {Scope.SUBMIT, Scope.READ}
    assert loaded.client_ids() == ["gerica", "gerica-oauth", "dashboard"]


def test_the_same_vendor_client_may_serve_two_municipalities(tmp_path: Path) -> None:
    vendor = "helseid-gerica"
    tenants = [
        bergen(oauth=oauth("964338531", {"id": "gerica-bergen", "client_id": vendor})),
        trondheim(oauth=oauth("942110464", {"id": "gerica-trondheim", "client_id": vendor})),
    ]
    assert len(load_tenants(write(tmp_path, {"tenants": tenants})).tenants) == 2


@pytest.mark.parametrize(
    ("tenants", "message"),
    [
        (
            [
                bergen(oauth=oauth("same", {"id": "aa", "client_id": "x"})),
                trondheim(oauth=oauth("same", {"id": "bb", "client_id": "y"})),
            ],
            "duplicate OAuth tenant claim value",
        ),
        (
            [
                bergen(epj_clients=[api_client("gerica")]),
                trondheim(oauth=oauth("t", {"id": "gerica", "client_id": "y"})),
            ],
            "duplicate EPJ client gerica",
        ),
        (
            [
                bergen(
                    oauth=oauth("b", {"id": "a1", "client_id": "x"}, {"id": "a2", "client_id": "x"})
                )
            ],
            "duplicate OAuth client_id",
        ),
        ([bergen(oauth=oauth("b"))], "clients"),
        ([bergen(oauth=oauth("", {"id": "a1", "client_id": "x"}))], "tenant_claim_value"),
        ([bergen(epj_clients=[api_client("gerica", rate_limit_per_second=0)])], "rate_limit"),
        ([bergen(oauth=oauth("b", {"id": "a1", "client_id": "x", "secret": "s"}))], "secret"),
    ],
    ids=[
        "claim-twice",
        "id-twice",
        "client-id-twice",
        "no-clients",
        "empty-claim",
        "rate-0",
        "extra",
    ],
)
def test_refused_client_settings(
    tmp_path: Path, tenants: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(TenantFileError, match=message):
        load_tenants(write(tmp_path, {"tenants": tenants}))
