"""The ops port's app as the runtime builds it: NHN and the Address Registry being down is
shown in /status and kprgw_external_up, and never makes the replica unready."""

from __future__ import annotations

import socket
from collections.abc import Mapping

import httpx
from starlette.applications import Starlette

from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.observability import GracefulShutdown, ServiceMetrics
from kpr_gateway.registry import AddressRegistryClient
from kpr_gateway.runtime.runner import ops_app
from kpr_gateway.security.devpki import DevPki
from tests.unit.runtime.registries import Endpoint, kpr_registry, served


async def own_checks_pass() -> Mapping[str, bool]:
    return {"broker": True, "redis": True}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_nhn_and_the_registry_down_the_replica_stays_ready() -> None:
    metrics = ServiceMetrics("dispatch")
    nhn = InMemoryNhnTransport(InMemoryNhnBroker())  # never started: not connected
    async with AddressRegistryClient(
        f"http://127.0.0.1:{unused_port()}/registry", timeout=1.0
    ) as registry:
        app = ops_app(own_checks_pass, metrics, GracefulShutdown(), nhn=nhn, registry=registry)
        async with client(app) as http:
            ready = await http.get("/readyz")
            status = await http.get("/status")
            scraped = await http.get("/metrics")
    assert ready.status_code == 200
    assert ready.json()["failed"] == []
    assert "nhn" not in ready.json()["checks"]
    assert status.status_code == 200
    assert status.json()["external"] == {"nhn": False, "address_registry": False}
    assert status.json()["unavailable"] == ["address_registry", "nhn"]
    assert 'kprgw_external_up{system="nhn"} 0.0' in scraped.text
    assert 'kprgw_external_up{system="address_registry"} 0.0' in scraped.text


async def test_systems_that_answer_are_shown_up(registry_pki: DevPki) -> None:
    metrics = ServiceMetrics("receipts")
    nhn = InMemoryNhnTransport(InMemoryNhnBroker())
    await nhn.start()
    try:
        async with (
            served(Endpoint(kpr_registry(registry_pki))) as url,
            AddressRegistryClient(url) as registry,
        ):
            app = ops_app(own_checks_pass, metrics, GracefulShutdown(), nhn=nhn, registry=registry)
            async with client(app) as http:
                status = await http.get("/status")
    finally:
        await nhn.stop()
    assert status.json()["external"] == {"nhn": True, "address_registry": True}
    assert status.json()["unavailable"] == []
    assert metrics.registry.get_sample_value("kprgw_external_up", {"system": "nhn"}) == 1.0


async def test_a_service_without_nhn_or_registry_has_no_external_systems() -> None:
    app = ops_app(own_checks_pass, ServiceMetrics("intake"), GracefulShutdown())
    async with client(app) as http:
        status = await http.get("/status")
        scraped = await http.get("/metrics")
    assert status.json()["external"] == {}
    assert "kprgw_external_up" not in scraped.text


async def test_draining_is_unready_whatever_the_external_systems() -> None:
    shutdown = GracefulShutdown()
    app = ops_app(own_checks_pass, ServiceMetrics("envelope"), shutdown)
    async with client(app) as http:
        assert (await http.get("/readyz")).status_code == 200
        shutdown.request()
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200
