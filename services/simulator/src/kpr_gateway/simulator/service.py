"""The simulator as its own process: the ``Simulator`` with health, readiness and metrics,
and the simulated Address Registry (SOAP 1.2) on the same HTTP port.

It has no internal bus and no Redis, so it does not use the services' ``run_service``;
the wiring is small: logging, tracing, the health server, and the graceful drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability import (
    GracefulShutdown,
    HealthServer,
    ServiceMetrics,
    health_app,
    readiness_checks,
    setup_logging,
    setup_tracing,
)
from kpr_gateway.observability.health import DrainState
from kpr_gateway.runtime.runner import settle_start_up_objects
from kpr_gateway.simulator.app import SERVICE_NAME, Simulator
from kpr_gateway.simulator.config import build_simulator
from kpr_gateway.simulator.registry import SimulatedRegistry
from kpr_gateway.simulator.registry_config import build_registry
from kpr_gateway.simulator.registry_http import DEFAULT_REGISTRY_PATH, registry_routes
from kpr_gateway.simulator.settings import SimulatorSettings

_log = logging.getLogger(__name__)

TransportFactory = Callable[[SimulatorSettings], NhnTransport]


class SimulatorProcess:
    """A started ``Simulator`` behind ``/healthz``, ``/readyz`` (NHN reachable) and ``/metrics``,
    and the ``registry`` (if given) under ``registry_path``."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        host: str,
        port: int,
        drain: DrainState | None = None,
        registry: SimulatedRegistry | None = None,
        registry_path: str = DEFAULT_REGISTRY_PATH,
    ) -> None:
        self.simulator = simulator
        self.registry = registry
        readiness = readiness_checks({"nhn": simulator.ping})
        app = health_app(readiness, simulator.metrics.registry, shutdown=drain)
        if registry is not None:
            app.router.routes.extend(registry_routes(registry, registry_path))
        self._server = HealthServer(app, host, port)

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self) -> None:
        self.simulator.register()
        await self.simulator.start()
        await self._server.start()

    async def stop(self, drain_seconds: float) -> None:
        """Finish answers in flight (up to ``drain_seconds``), then stop serving probes."""
        try:
            async with asyncio.timeout(drain_seconds):
                await self.simulator.stop()
        except TimeoutError:
            _log.warning("simulator did not drain within %.0f s", drain_seconds)
        finally:
            await self._server.stop()


async def serve(settings: SimulatorSettings, transport_factory: TransportFactory) -> None:
    """Run until SIGTERM/SIGINT, then drain and return."""
    setup_logging(SERVICE_NAME, settings.log_level, settings.log_json)
    provider = setup_tracing(SERVICE_NAME, console=settings.traces_console)
    shutdown = GracefulShutdown()
    shutdown.install()
    try:
        simulator = build_simulator(
            settings, transport_factory(settings), metrics=ServiceMetrics(SERVICE_NAME)
        )
        process = SimulatorProcess(
            simulator,
            host=settings.http_host,
            port=settings.http_port,
            drain=shutdown,
            registry=build_registry(settings),
            registry_path=settings.registry_path,
        )
        await process.start()
        settle_start_up_objects()  # as the gateway's services do
        _log.info("%s started; health on port %d", SERVICE_NAME, process.port)
        await shutdown.wait()
        _log.info("%s draining", SERVICE_NAME)
        await process.stop(settings.drain_seconds)
    finally:
        await asyncio.to_thread(provider.shutdown)
        shutdown.uninstall()
    _log.info("%s stopped", SERVICE_NAME)
