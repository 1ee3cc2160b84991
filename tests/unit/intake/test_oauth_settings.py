"""OAuth2 settings from the environment, and what ``build`` makes of them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fakeredis import FakeAsyncRedis
from pydantic import ValidationError

from kpr_gateway.intake.app import build
from kpr_gateway.intake.settings import IntakeSettings
from kpr_gateway.ledger import Ledger
from kpr_gateway.observability import GracefulShutdown
from kpr_gateway.observability.health import readiness_checks
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import MemoryBroker, MemoryBus
from kpr_gateway.runtime import ServiceContext
from kpr_gateway.tenancy import load_tenants
from kpr_gateway.tenancy.model import Scope
from tests.unit.tenancy.test_tenancy import bergen, write

HELSEID = {
    "KPRGW_INTAKE_OAUTH_ISSUER": "https://helseid-sts.nhn.no",
    "KPRGW_INTAKE_OAUTH_AUDIENCE": "nhn:kprgw",
    "KPRGW_INTAKE_OAUTH_JWKS_URL": "https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks",
    "KPRGW_INTAKE_OAUTH_TENANT_CLAIM": "helseid://claims/client/claims/orgnr_parent",
    "KPRGW_INTAKE_OAUTH_SCOPE_SUBMIT": "nhn:kprgw/submit",
    "KPRGW_INTAKE_OAUTH_SCOPE_READ": "nhn:kprgw/read",
    "KPRGW_INTAKE_OAUTH_ALGORITHMS": '["RS256", "PS256"]',
}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> IntakeSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return IntakeSettings(tenants_file=Path("tenants.yaml"))


def test_off_unless_an_issuer_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).oauth_config() is None


def test_a_helseid_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings(monkeypatch, **HELSEID).oauth_config()
    assert config is not None
    assert config.tenant_claim == "helseid://claims/client/claims/orgnr_parent"
    assert config.scope_values == {
        "nhn:kprgw/submit": Scope.SUBMIT,
        "nhn:kprgw/read": Scope.READ,
        "kpr:annual": Scope.ANNUAL,
    }
    assert config.algorithms == {"RS256", "PS256"}
    assert config.client_claims == ("client_id", "azp")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"KPRGW_INTAKE_OAUTH_AUDIENCE": ""}, "needs oauth_audience"),
        ({"KPRGW_INTAKE_OAUTH_JWKS_URL": "http://idp.example/jwks"}, "https"),
        ({"KPRGW_INTAKE_OAUTH_JWKS_URL": "file:///etc/jwks.json"}, "https"),
        ({"KPRGW_INTAKE_OAUTH_ALGORITHMS": '["RS256", "HS256"]'}, "HS256"),
        ({"KPRGW_INTAKE_OAUTH_ALGORITHMS": '["none"]'}, "none"),
        ({"KPRGW_INTAKE_OAUTH_SCOPE_READ": "nhn:kprgw/submit"}, "must differ"),
        ({"KPRGW_INTAKE_OAUTH_LEEWAY_SECONDS": "3600"}, "leeway"),
    ],
)
def test_unsafe_or_incomplete_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(monkeypatch, **{**HELSEID, **changes})


def test_plain_http_is_allowed_for_a_loopback_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("http://127.0.0.1:8089/jwks", "http://localhost/jwks", "http://[::1]/jwks"):
        assert settings(monkeypatch, **{**HELSEID, "KPRGW_INTAKE_OAUTH_JWKS_URL": url})


async def test_build_wires_the_verifier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tenants = load_tenants(write(tmp_path, {"tenants": [bergen()]}))
    local = {**HELSEID, "KPRGW_INTAKE_OAUTH_JWKS_URL": "http://127.0.0.1:9/jwks"}
    bus = MemoryBus(service_name="intake", broker=MemoryBroker())
    ledger = Ledger(FakeAsyncRedis())
    context = ServiceContext(
        name="intake",
        tenants=tenants,
        ledger=ledger,
        bus=bus,
        metrics=ServiceMetrics("intake"),
        readiness=readiness_checks({}),
        drain=GracefulShutdown(),
        nhn=None,
    )
    intake = build(context, settings(monkeypatch, **local))
    await intake.start()  # the issuer is unreachable: logged, the service still starts
    transport = httpx.ASGITransport(app=intake.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        answer = await client.get(
            "/v1/events/6f1c2a8e-0000-4000-8000-000000000001",
            headers={"Authorization": "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln"},
        )
    # Tokens go to the (unreachable) issuer's keys: 503, not "tokens are not accepted here".
    assert answer.status_code == 503
    await intake.close()
