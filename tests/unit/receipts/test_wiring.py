"""How receipts is built from its settings and the runtime's context."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.nhn.amqp import AmqpNhnTransport
from kpr_gateway.observability import readiness_checks
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import MemoryBus
from kpr_gateway.receipts.__main__ import amqp_transport
from kpr_gateway.receipts.app import SERVICE_NAME, build
from kpr_gateway.receipts.errors import NoTransportError
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.runtime import ServiceContext
from kpr_gateway.runtime.receivers import ReceiverStartupError
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TenantFileError, TenantsFile, load_tenants
from tests.unit.receipts.world import (
    RecordingTransport,
    on_async_queue,
    sealed_apprec,
    send_message,
    write_tenants,
)


class _NotDraining:
    draining = False


def context(tenants: TenantsFile, *, nhn: RecordingTransport | None) -> ServiceContext:
    return ServiceContext(
        name=SERVICE_NAME,
        tenants=tenants,
        ledger=Ledger(FakeAsyncRedis()),
        bus=MemoryBus(service_name=SERVICE_NAME),
        metrics=ServiceMetrics(SERVICE_NAME),
        readiness=readiness_checks({}),
        drain=_NotDraining(),
        nhn=nhn,
    )


def overdue_gauge(ctx: ServiceContext) -> float | None:
    return ctx.metrics.registry.get_sample_value("kprgw_receipts_overdue", {"tenant": "bergen"})


def test_settings_defaults_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPRGW_RECEIPTS_TENANTS_FILE", str(tmp_path / "tenants.yaml"))
    defaults = ReceiptsSettings()
    assert defaults.apprec_deadline == timedelta(hours=24)
    assert defaults.overdue_sweep_seconds == 60.0

    monkeypatch.setenv("KPRGW_RECEIPTS_APPREC_DEADLINE", "PT6H")
    monkeypatch.setenv("KPRGW_RECEIPTS_CREDIT", "3")
    configured = ReceiptsSettings()
    assert configured.apprec_deadline == timedelta(hours=6)
    assert configured.credit == 3


@pytest.mark.parametrize(
    ("given", "deadline"),
    [("30", timedelta(seconds=30)), ("1.5", timedelta(seconds=1.5)), ("P1D", timedelta(days=1))],
)
def test_a_duration_is_seconds_or_iso_8601(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, deadline: timedelta
) -> None:
    monkeypatch.setenv("KPRGW_RECEIPTS_TENANTS_FILE", str(tmp_path / "tenants.yaml"))
    monkeypatch.setenv("KPRGW_RECEIPTS_APPREC_DEADLINE", given)
    assert ReceiptsSettings().apprec_deadline == deadline


async def test_build_subscribes_each_tenants_queues_and_handles_an_apprec(
    tmp_path: Path, receipts_pki: DevPki
) -> None:
    tenants = load_tenants(write_tenants(tmp_path, receipts_pki))
    tenant = tenants.tenants[0]
    transport = RecordingTransport(InMemoryNhnBroker())
    ctx = context(tenants, nhn=transport)
    receipts = build(
        ctx, ReceiptsSettings(tenants_file=tmp_path / "tenants.yaml", backlog_quiet_seconds=0.2)
    )
    receipts.register()
    await ctx.bus.start()
    await transport.start()
    await receipts.start()
    try:
        sent = await send_message(ctx.ledger, tenant)
        message = on_async_queue(tenant, sealed_apprec(receipts_pki, sent.head))
        transport.broker.put(message)
        await transport.settled(message.message_id)
        record = await ctx.ledger.get_message(tenant.id, sent.msg_id)
        assert record is not None
        assert record.state is MessageState.ACKNOWLEDGED
        # the sweep runs once the queues were quiet for a moment: the tenant's gauge appears
        async with asyncio.timeout(5):
            while overdue_gauge(ctx) is None:
                await asyncio.sleep(0.01)
        assert overdue_gauge(ctx) == 0
    finally:
        await transport.stop()
        await ctx.bus.stop()
        await receipts.close()


def test_build_needs_an_nhn_transport(tmp_path: Path, receipts_pki: DevPki) -> None:
    tenants = load_tenants(write_tenants(tmp_path, receipts_pki))
    with pytest.raises(NoTransportError):
        build(context(tenants, nhn=None), ReceiptsSettings(tenants_file=tmp_path / "t.yaml"))


async def test_start_refuses_a_tenant_without_the_receivers_certificates(
    tmp_path: Path, receipts_pki: DevPki
) -> None:
    path = write_tenants(tmp_path, receipts_pki)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["tenants"][0]["receiver_override"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    transport = RecordingTransport(InMemoryNhnBroker())
    receipts = build(
        context(load_tenants(path), nhn=transport), ReceiptsSettings(tenants_file=path)
    )

    with pytest.raises(
        ReceiverStartupError,
        match="tenant bergen: the receiver's signing certificate cannot be resolved: no "
        "receiver_override",
    ):
        await receipts.start()
    await receipts.close()


def test_build_refuses_a_tenant_without_its_own_certificates(
    tmp_path: Path, receipts_pki: DevPki
) -> None:
    path = write_tenants(tmp_path, receipts_pki)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["tenants"][0]["certificates"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    transport = RecordingTransport(InMemoryNhnBroker())

    with pytest.raises(TenantFileError, match="tenant bergen: certificates are not configured"):
        build(context(load_tenants(path), nhn=transport), ReceiptsSettings(tenants_file=path))


def test_amqp_transport_from_the_settings(tmp_path: Path) -> None:
    secret = tmp_path / "nhn-password"
    secret.write_text("p@ss:word/1\n", encoding="utf-8")
    settings = ReceiptsSettings(
        tenants_file=tmp_path / "tenants.yaml",
        nhn_url="amqps://tjenestebuss.example:5671/kpr",
        nhn_username="kommune-50002",
        nhn_password_file=secret,
    )
    assert settings.nhn_password() == "p@ss:word/1"

    transport = amqp_transport(settings)

    assert isinstance(transport, AmqpNhnTransport)
    assert transport.exchange == "kpr"


@pytest.mark.parametrize(
    ("url", "username"),
    [("amqp://localhost:5672/kpr", "user"), ("amqps://tjenestebuss.example/kpr", None)],
    ids=["plain-amqp", "no-username"],
)
def test_unusable_nhn_settings_stop_the_service(
    tmp_path: Path, url: str, username: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ReceiptsSettings(
        tenants_file=tmp_path / "t.yaml", nhn_url=url, nhn_username=username
    )
    with pytest.raises(SystemExit) as stopped:
        amqp_transport(settings)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("receipts: settings:")


def test_nhn_password_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a file"):
        ReceiptsSettings(tenants_file=tmp_path / "t.yaml", nhn_password_file=tmp_path / "none")
