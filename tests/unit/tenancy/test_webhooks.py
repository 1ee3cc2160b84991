"""EPJ clients' webhooks in the tenants file: the URL's checks, https unless allowed, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kpr_gateway.tenancy import TenantFileError, load_tenants
from kpr_gateway.tenancy.webhooks import load_webhooks
from tests.unit.tenancy.test_tenancy import bergen, write

HOOK_SECRET = b"k" * 40
SHORT_SECRET = b"k" * 31


def with_client(webhook: dict[str, Any] | None, *, oauth: bool = False) -> dict[str, Any]:
    client: dict[str, Any] = {"id": "gerica-prod"}
    if webhook is not None:
        client["webhook"] = webhook
    if oauth:
        client["client_id"] = "helseid-gerica"
        return bergen(oauth={"tenant_claim_value": "964338531", "clients": [client]})
    client["api_key_sha256"] = "a" * 64
    return bergen(epj_clients=[client])


def load(tmp_path: Path, webhook: dict[str, Any] | None, **options: bool) -> Any:
    (tmp_path / "hook.secret").write_bytes(HOOK_SECRET + b"\n")
    return load_tenants(write(tmp_path, {"tenants": [with_client(webhook, **options)]}))


@pytest.mark.parametrize("oauth", [False, True], ids=["api-key client", "oauth client"])
def test_a_webhook_loads_with_its_secret_resolved_against_the_file(
    tmp_path: Path, oauth: bool
) -> None:
    url = "https://epj.example.org/kpr/receipts?token=abc"
    tenants = load(tmp_path, {"url": url, "secret_file": "hook.secret"}, oauth=oauth)
    [client] = tenants.by_id("bergen").clients()
    assert client.webhook is not None
    assert client.webhook.secret_file == tmp_path.resolve() / "hook.secret"
    assert client.webhook.shown_url == "https://epj.example.org/kpr/receipts"
    target = load_webhooks(tenants)["bergen"]["gerica-prod"]
    assert (target.url, target.shown_url) == (url, "https://epj.example.org/kpr/receipts")
    assert target.secret == HOOK_SECRET  # without the file's trailing newline
    assert "kkkk" not in repr(target)


def test_a_client_without_a_webhook_has_none(tmp_path: Path) -> None:
    tenants = load(tmp_path, None)
    assert load_webhooks(tenants) == {"bergen": {}}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://epj.example.org/hook", "http:// or https://"),
        ("https:///no-host", "http:// or https://"),
        ("epj.example.org/hook", "http:// or https://"),
        ("https://user:pw@epj.example.org/hook", "credentials"),
        ("https://epj.example.org/hook#part", "fragment"),
        ("https://epj.example.org/ho ok", "spaces or control characters"),
        ("https://epj.example.org/hook\n", "spaces or control characters"),
        ("https://epj.example.org:99999/hook", "cannot be read as a URL"),
        ("https://epj.example.org:0/hook", "cannot be read as a URL"),
        ("https://epj.example.org/" + "x" * 2048, "at most 2048 characters"),
    ],
)
def test_an_unfit_url_is_refused_naming_the_field(tmp_path: Path, url: str, reason: str) -> None:
    with pytest.raises(TenantFileError, match=reason) as refused:
        load(tmp_path, {"url": url, "secret_file": "hook.secret"})
    assert "epj_clients.0.webhook.url" in str(refused.value)
    assert "user:pw" not in str(refused.value)


def test_plain_http_is_refused_unless_the_service_allows_it(tmp_path: Path) -> None:
    url = "http://127.0.0.1:8099/hook?token=abc"
    tenants = load(tmp_path, {"url": url, "secret_file": "hook.secret"})
    with pytest.raises(TenantFileError, match="not https") as refused:
        load_webhooks(tenants)
    message = str(refused.value)
    assert "tenant bergen: EPJ client gerica-prod" in message
    assert "http://127.0.0.1:8099/hook" in message
    assert "token" not in message  # a query may hold a token: never in errors or logs
    assert load_webhooks(tenants, allow_insecure_urls=True)["bergen"]["gerica-prod"].url == url


def test_a_short_or_missing_secret_stops_it_without_showing_the_secret(tmp_path: Path) -> None:
    tenants = load(tmp_path, {"url": "https://epj.example.org/hook", "secret_file": "hook.secret"})
    (tmp_path / "hook.secret").write_bytes(SHORT_SECRET)
    with pytest.raises(TenantFileError, match="fewer than 32 bytes") as short:
        load_webhooks(tenants)
    assert "kkk" not in str(short.value)
    (tmp_path / "hook.secret").unlink()
    with pytest.raises(TenantFileError, match=r"webhook\.secret_file cannot be read"):
        load_webhooks(tenants)


def test_a_webhook_needs_both_url_and_secret_file(tmp_path: Path) -> None:
    with pytest.raises(TenantFileError, match="secret_file"):
        load(tmp_path, {"url": "https://epj.example.org/hook"})
    with pytest.raises(TenantFileError, match=r"webhook\.secret: Extra inputs"):
        load(tmp_path, {"url": "https://e.example.org/h", "secret_file": "s", "secret": "x"})
