"""The simulator as its own process: the ``Simulator`` with health, readiness, status and
metrics on its ops port, and the simulated Address Registry (SOAP 1.2) on its HTTP port.

It has no internal bus and no Redis, so it does not use the services' ``run_service``;
the wiring is small: logging, tracing, the health server, and the graceful drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.applications import Starlette

from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability import (
    ExternalSystems,
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
from kpr_gateway.simulator.fault_control import fault_routes
from kpr_gateway.simulator.registry import SimulatedRegistry
from kpr_gateway.simulator.registry_config import build_registry
from kpr_gateway.simulator.registry_http import DEFAULT_REGISTRY_PATH, registry_routes
from kpr_gateway.simulator.settings import SimulatorSettings

_log = logging.getLogger(__name__)

TransportFactory = Callable[[SimulatorSettings], NhnTransport]


class SimulatorProcess:
    """A started ``Simulator`` with ``/healthz``, ``/readyz``, ``/status`` (NHN reachable) and
    ``/metrics`` on ``ops_port``; on ``port`` the ``registry`` (if given) under
    ``registry_path``, and with ``fault_control`` (tests only) ``/faults`` and ``/received``."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        host: str,
        port: int,
        ops_port: int = 0,
        ops_host: str | None = None,
        drain: DrainState | None = None,
        registry: SimulatedRegistry | None = None,
        registry_path: str = DEFAULT_REGISTRY_PATH,
        fault_control: bool = False,
    ) -> None:
        self.simulator = simulator
        self.registry = registry
        # NHN (the broker playing it) is down for every replica alike: shown, not unready.
        external = ExternalSystems({"nhn": simulator.ping}, simulator.metrics.registry)
        ops = health_app(
            readiness_checks({}), simulator.metrics.registry, shutdown=drain, external=external
        )
        self._ops = HealthServer(ops, ops_host if ops_host is not None else host, ops_port)
        app = Starlette()
        if registry is not None:
            app.router.routes.extend(registry_routes(registry, registry_path))
        if fault_control:
            app.router.routes.extend(fault_routes(simulator))
        self._server = HealthServer(app, host, port)

    @property
    def port(self) -> int:
        """The HTTP port: the registry and fault control."""
        return self._server.port

    @property
    def ops_port(self) -> int:
        return self._ops.port

    async def start(self) -> None:
        self.simulator.register()
        await self.simulator.start()
        await self._ops.start()
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
            await self._ops.stop()


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
            ops_host=settings.ops_host,
            ops_port=settings.ops_port,
            drain=shutdown,
            registry=build_registry(settings),
            registry_path=settings.registry_path,
            fault_control=settings.fault_control,
        )
        await process.start()
        settle_start_up_objects()  # as the gateway's services do
        _log.info(
            "%s started; registry on port %d, ops on port %d",
            SERVICE_NAME,
            process.port,
            process.ops_port,
        )
        await shutdown.wait()
        _log.info("%s draining", SERVICE_NAME)
        await process.stop(settings.drain_seconds)
    finally:
        await asyncio.to_thread(provider.shutdown)
        shutdown.uninstall()
    _log.info("%s stopped", SERVICE_NAME)
