"""The simulator as a process: health, readiness, status and metrics on its ops port, and
refusing bad settings."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.observability import GracefulShutdown
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Simulator, SimulatorConfigError, SimulatorSettings
from kpr_gateway.simulator.__main__ import amqp_transport, main
from kpr_gateway.simulator.service import SimulatorProcess
from tests.unit.simulator.support import (
    KPR_QUEUE,
    SENDER_ASYNC,
    Party,
    fhi_credentials,
    kpr_ipl,
    nhn_message,
    sealed,
    sender_of,
)


def simulator_on(broker: InMemoryNhnBroker, pki: DevPki) -> Simulator:
    return Simulator(
        transport=InMemoryNhnTransport(broker),
        credentials=fhi_credentials(pki),
        senders=[sender_of(pki)],
        queues=[KPR_QUEUE],
    )


async def test_health_readiness_and_metrics(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    drain = GracefulShutdown()
    process = SimulatorProcess(simulator_on(broker, pki), host="127.0.0.1", port=0, drain=drain)
    await process.start()
    try:
        await party.send(nhn_message(sealed(pki, kpr_ipl())))
        await party.next_on(SENDER_ASYNC)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.ops_port}") as client:
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
            status = await client.get("/status")
            metrics = await client.get("/metrics")
            drain.request()
            draining = await client.get("/readyz")
        assert process.ops_port != process.port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.port}") as client:
            on_http_port = await client.get("/metrics")
    finally:
        await process.stop(drain_seconds=5)

    assert health.status_code == 200
    assert ready.status_code == 200
    assert status.json()["external"] == {"nhn": True}
    assert metrics.status_code == 200
    assert f'kprgw_simulator_received_total{{queue="{KPR_QUEUE}"}} 1.0' in metrics.text
    assert 'kprgw_simulator_answered_total{status="1"} 1.0' in metrics.text
    assert 'kprgw_external_up{system="nhn"} 1.0' in metrics.text
    assert draining.status_code == 503
    assert on_http_port.status_code == 404


async def test_nhn_down_is_shown_but_leaves_the_simulator_ready(
    pki: DevPki, broker: InMemoryNhnBroker
) -> None:
    simulator = simulator_on(broker, pki)
    process = SimulatorProcess(simulator, host="127.0.0.1", port=0)
    await process.start()
    try:
        await simulator.stop()  # its link to NHN gone: down for every replica alike
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.ops_port}") as client:
            ready = await client.get("/readyz")
            status = await client.get("/status")
    finally:
        await process.stop(drain_seconds=5)
    assert ready.status_code == 200
    assert status.json()["unavailable"] == ["nhn"]


async def test_not_ready_once_the_transport_is_stopped(
    pki: DevPki, broker: InMemoryNhnBroker
) -> None:
    simulator = simulator_on(broker, pki)
    simulator.register()
    await simulator.start()
    assert await simulator.ping()
    await simulator.stop()
    assert not await simulator.ping()


def test_main_refuses_missing_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("KPRGW_SIMULATOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KPRGW_SIMULATOR_REJECT_SHARE", "3")
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("simulator: settings:")
    assert "signing_certificate" in err
    assert "reject_share" in err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (None, "KPRGW_SIMULATOR_AMQP_URL is not set"),
        ("amqp://guest:guest@127.0.0.1:5672/nhn", "plain amqp:// is refused"),
        ("amqps://guest@broker.example:5671", "no exchange"),
    ],
)
def test_amqp_settings_are_checked_before_connecting(
    tmp_path: Path, url: str | None, reason: str
) -> None:
    settings = SimulatorSettings(
        signing_certificate=tmp_path / "s.pem",
        signing_key=tmp_path / "s.key",
        encryption_certificate=tmp_path / "e.pem",
        encryption_key=tmp_path / "e.key",
        parties_file=tmp_path / "parties.yaml",
        amqp_url=url,
    )
    with pytest.raises(SimulatorConfigError, match=reason):
        amqp_transport(settings)
