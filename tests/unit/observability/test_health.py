from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Mapping

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kpr_gateway.observability import (
    GracefulShutdown,
    HealthServer,
    HealthServerError,
    Readiness,
    ServiceMetrics,
    add_health_routes,
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


async def test_routes_added_to_an_existing_app() -> None:
    async def hello(_: Request) -> Response:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/v1/hello", hello)])
    add_health_routes(app, fixed({"redis": False}), ServiceMetrics("intake").registry)
    async with client(app) as http:
        assert (await http.get("/v1/hello")).text == "hello"
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/metrics")).status_code == 200


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
