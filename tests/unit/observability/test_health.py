from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Mapping

import httpx
import pytest
from starlette.applications import Starlette

from kpr_gateway.observability import (
    ExternalSystems,
    GracefulShutdown,
    HealthServer,
    HealthServerError,
    Readiness,
    ServiceMetrics,
    health_app,
    readiness_checks,
)

FNR = "01017012345"


def fixed(results: Mapping[str, bool]) -> Readiness:
    async def readiness() -> Mapping[str, bool]:
        return results

    return readiness


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_ready_when_every_check_passes() -> None:
    app = health_app(fixed({"broker": True, "redis": True}), ServiceMetrics("t").registry)
    async with client(app) as http:
        ready = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"broker": True, "redis": True},
        "failed": [],
    }
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}


async def test_not_ready_names_the_failed_checks() -> None:
    app = health_app(fixed({"broker": True, "redis": False}), ServiceMetrics("t").registry)
    async with client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]
    assert response.json()["status"] == "not_ready"


async def test_draining_turns_readiness_off_but_not_liveness() -> None:
    shutdown = GracefulShutdown()
    app = health_app(fixed({"broker": True}), ServiceMetrics("t").registry, shutdown=shutdown)
    async with client(app) as http:
        assert (await http.get("/readyz")).status_code == 200
        shutdown.request()
        ready = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "draining"}
    assert alive.status_code == 200
    assert alive.json() == {"status": "draining"}


async def test_a_raising_readiness_is_not_ready_and_says_nothing_more() -> None:
    async def broken() -> Mapping[str, bool]:
        raise RuntimeError(f"cannot reach redis for {FNR}")

    app = health_app(broken, ServiceMetrics("t").registry)
    async with client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "error": "readiness checks failed: RuntimeError",
    }


async def test_combined_checks_fail_on_errors_and_timeouts() -> None:
    async def up() -> bool:
        return True

    async def down() -> bool:
        return False

    async def raising() -> bool:
        raise ConnectionError("refused")

    async def hanging() -> bool:
        await asyncio.sleep(30)
        return True

    readiness = readiness_checks(
        {"broker": up, "redis": down, "nhn": raising, "slow": hanging}, timeout=0.05
    )
    assert await readiness() == {"broker": True, "redis": False, "nhn": False, "slow": False}
    app = health_app(readiness, ServiceMetrics("t").registry)
    async with client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["nhn", "redis", "slow"]


async def test_metrics_endpoint() -> None:
    metrics = ServiceMetrics("transform")
    metrics.record_handled("events", "ack", 0.001)
    app = health_app(fixed({}), metrics.registry)
    async with client(app) as http:
        response = await http.get("/metrics")
        openmetrics = await http.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'kprgw_handled_total{outcome="ack",queue="events"} 1.0' in response.text
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")


class Switch:
    """An external system's check that a test turns on and off, counting the calls."""

    def __init__(self, up: bool) -> None:
        self.up = up
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        return self.up


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_external_systems_down_leave_readiness_alone_and_show_in_status() -> None:
    metrics = ServiceMetrics("dispatch")
    nhn, registry = Switch(up=False), Switch(up=True)
    external = ExternalSystems({"nhn": nhn, "address_registry": registry}, metrics.registry)
    app = health_app(fixed({"broker": True, "redis": True}), metrics.registry, external=external)
    async with client(app) as http:
        ready = await http.get("/readyz")
        status = await http.get("/status")
        scraped = await http.get("/metrics")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"broker": True, "redis": True},
        "failed": [],
    }
    assert status.status_code == 200
    assert status.json() == {
        "status": "ready",
        "checks": {"broker": True, "redis": True},
        "failed": [],
        "external": {"nhn": False, "address_registry": True},
        "unavailable": ["nhn"],
    }
    assert 'kprgw_external_up{system="nhn"} 0.0' in scraped.text
    assert 'kprgw_external_up{system="address_registry"} 1.0' in scraped.text


async def test_status_shows_failed_readiness_without_failing_itself() -> None:
    external = ExternalSystems({"nhn": Switch(up=True)}, ServiceMetrics("t").registry)
    app = health_app(
        fixed({"broker": True, "redis": False}), ServiceMetrics("t").registry, external=external
    )
    async with client(app) as http:
        status = await http.get("/status")
    assert status.status_code == 200
    assert status.json()["status"] == "not_ready"
    assert status.json()["failed"] == ["redis"]
    assert status.json()["unavailable"] == []


async def test_without_external_systems_the_status_has_none() -> None:
    shutdown = GracefulShutdown()
    app = health_app(fixed({"broker": True}), ServiceMetrics("t").registry, shutdown=shutdown)
    async with client(app) as http:
        shutdown.request()
        status = await http.get("/status")
        scraped = await http.get("/metrics")
    assert status.status_code == 200
    assert status.json() == {"status": "draining", "external": {}, "unavailable": []}
    assert "kprgw_external_up" not in scraped.text


async def test_external_checks_are_asked_at_most_once_per_interval() -> None:
    clock = Clock()
    nhn = Switch(up=True)
    external = ExternalSystems(
        {"nhn": nhn}, ServiceMetrics("t").registry, interval=5.0, clock=clock
    )
    assert await external.check() == {"nhn": True}
    nhn.up = False
    clock.now += 4.9
    assert await external.check() == {"nhn": True}  # the answer of 4.9 s ago
    assert nhn.calls == 1
    clock.now += 0.1
    assert await external.check() == {"nhn": False}
    assert nhn.calls == 2
    # callers at the same moment share one round of checks
    clock.now += 10
    await asyncio.gather(*(external.check() for _ in range(5)))
    assert nhn.calls == 3


async def test_a_raising_or_hanging_external_check_counts_as_down() -> None:
    async def raising() -> bool:
        raise ConnectionError(f"refused for {FNR}")

    async def hanging() -> bool:
        await asyncio.sleep(30)
        return True

    metrics = ServiceMetrics("t")
    external = ExternalSystems(
        {"nhn": raising, "address_registry": hanging}, metrics.registry, timeout=0.05
    )
    assert await external.check() == {"nhn": False, "address_registry": False}
    assert metrics.registry.get_sample_value("kprgw_external_up", {"system": "nhn"}) == 0.0


async def test_health_server_serves_in_the_running_loop_and_leaves_signals_alone() -> None:
    handlers_before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    app = health_app(fixed({"broker": True}), ServiceMetrics("t").registry)
    server = HealthServer(app, "127.0.0.1", 0)
    async with server:
        url = f"http://127.0.0.1:{server.port}"
        assert {sig: signal.getsignal(sig) for sig in handlers_before} == handlers_before
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            assert (await http.get("/readyz")).status_code == 200
    async with httpx.AsyncClient(base_url=url) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/healthz")
    assert {sig: signal.getsignal(sig) for sig in handlers_before} == handlers_before


async def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer(
            health_app(fixed({}), ServiceMetrics("t").registry), "127.0.0.1", port
        )
        with pytest.raises(HealthServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            await server.start()
    with pytest.raises(HealthServerError, match="not running"):
        _ = server.port
    await server.stop()  # stopping a server that never started is harmless
