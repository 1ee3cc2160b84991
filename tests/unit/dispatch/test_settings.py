from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from kpr_gateway.dispatch.__main__ import amqp_transport
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.nhn.amqp import AmqpNhnTransport
from kpr_gateway.security.devpki import DevPki
from tests.support.outbound_world import bergen_entry, write_tenants


def settings(tmp_path: Path, **options: object) -> DispatchSettings:
    return DispatchSettings.model_validate({"tenants_file": tmp_path / "t.yaml", **options})


def test_defaults(tmp_path: Path) -> None:
    defaults = settings(tmp_path)
    assert defaults.message_ttl_ms == 345_600_000
    assert defaults.nhn_verify_queues
    assert not defaults.nhn_allow_insecure
    assert defaults.nhn_password() is None


def test_environment_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPRGW_DISPATCH_TENANTS_FILE", str(tmp_path / "t.yaml"))
    monkeypatch.setenv("KPRGW_DISPATCH_MESSAGE_TTL_MS", "60000")
    assert DispatchSettings().message_ttl_ms == 60_000


def test_amqp_transport_from_the_settings(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("p@ss:w/rd\n", encoding="utf-8")
    configured = settings(
        tmp_path,
        nhn_url="amqps://tb.test.nhn.no:5671",
        nhn_username="kommune-4601",
        nhn_password_file=secret,
        nhn_exchange="NHNTESTServiceBus",
    )
    assert configured.nhn_password() == "p@ss:w/rd"
    transport = amqp_transport(configured)  # not started: nothing connects
    assert isinstance(transport, AmqpNhnTransport)
    assert transport.exchange == "NHNTESTServiceBus"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"nhn_password_file": "/nonexistent/password"}, "nhn_password_file"),
        ({"nhn_ca_file": "/nonexistent/ca.pem"}, "nhn_ca_file"),
        ({"message_ttl_ms": 10}, "message_ttl_ms"),
        ({"send_timeout_seconds": 0}, "send_timeout_seconds"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, options: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        settings(tmp_path, **options)


def test_start_up_stops_on_an_unusable_nhn_address(dev_pki: DevPki, tmp_path: Path) -> None:
    write_tenants(dev_pki, tmp_path, [bergen_entry()])
    environment = {
        **os.environ,
        "KPRGW_DISPATCH_TENANTS_FILE": str(tmp_path / "tenants.yaml"),
        "KPRGW_DISPATCH_NHN_URL": "amqp://user@127.0.0.1:5672/exchange",
        "KPRGW_DISPATCH_HTTP_PORT": "0",
        "KPRGW_DISPATCH_LOG_JSON": "false",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "kpr_gateway.dispatch"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert "dispatch: settings: plain amqp:// is refused" in finished.stderr
