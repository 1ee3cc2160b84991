"""Production wiring of a service on RabbitMQ and Redis, and its graceful drain."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Final, NoReturn, TypeVar

import uvloop
from pydantic import ValidationError
from redis.asyncio import Redis
from starlette.applications import Starlette

from kpr_gateway.ledger import KeySpace, Ledger, redis_from_url
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability import (
    ExternalSystems,
    GracefulShutdown,
    HealthServer,
    HealthServerError,
    ServiceMetrics,
    health_app,
    readiness_checks,
    setup_logging,
    setup_tracing,
)
from kpr_gateway.observability.health import DrainState, Readiness
from kpr_gateway.pipeline import RabbitBus
from kpr_gateway.registry import AddressRegistryClient, ReceiverDirectory
from kpr_gateway.runtime.component import Component, ServiceContext, StartupError, WorkSource
from kpr_gateway.runtime.crash_points import arm_from_environment
from kpr_gateway.runtime.ledger_guard import LedgerGuard, LedgerLostError
from kpr_gateway.runtime.ledger_witness import RabbitWitness, witness_queue
from kpr_gateway.runtime.registry import (
    RegistryServiceSettings,
    receiver_directory,
    registry_client,
)
from kpr_gateway.runtime.settings import ServiceSettings
from kpr_gateway.tenancy import TenancyError, TenantsFile, load_tenants

_log = logging.getLogger(__name__)


def settle_start_up_objects() -> None:
    """Called once start-up is done. What start-up made (modules, schemas, tables) lives as
    long as the process: out of the collector's sight, each collection walks only what the
    work makes (transform measured ~25% less CPU per event). Collected first, so no garbage
    is kept for good; then the collector runs less often (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


GC_THRESHOLDS: Final = (10_000, 10, 10)
"""The collector's thresholds while a service works (Python's default: 700, 10, 10).

A chunk of 5,000 notifications makes some 100,000 objects that live until its message is
sent; with the defaults the young collections run ~150 times per chunk and the older ones
walk every held event again and again: reading a chunk took 58 µs per event against 27
with these (``python -m bench.stages``). 20,000 measured no faster; the services make little
cyclic garbage, and what they do make waits a little longer (peak RSS in bench/README.md).
"""

Build = Callable[[ServiceContext], Component]
S = TypeVar("S", bound=ServiceSettings)


async def serve(
    name: str,
    settings: ServiceSettings,
    build: Build,
    *,
    nhn: Callable[[TenantsFile], NhnTransport] | None = None,
) -> None:
    """Run one service until SIGTERM/SIGINT, then drain and return.

    With ``RegistryServiceSettings`` the context's receiver directory uses the Address
    Registry when ``registry_url`` is set (cached in the service's Redis); else overrides only.
    """
    setup_logging(name, settings.log_level, settings.log_json)
    # Before anything connects: a crash point in production mode stops the start-up here.
    arm_from_environment(name, production=settings.mode == "production")
    provider = setup_tracing(name, console=settings.traces_console)
    tenants = load_tenants(settings.tenants_file)
    redis = redis_from_url(settings.redis_url, **redis_options(settings))
    keys = KeySpace(settings.key_prefix)
    ledger = Ledger(redis, keys=keys)
    registry, receivers = _receivers(name, settings, redis)
    bus = RabbitBus(
        settings.rabbitmq_url,
        service_name=name,
        prefix=settings.queue_prefix,
        graceful_timeout=settings.drain_seconds,
    )
    transport = nhn(tenants) if nhn is not None else None
    shutdown = GracefulShutdown()
    shutdown.install()
    metrics = ServiceMetrics(name)
    guard = LedgerGuard(
        redis,
        keys,
        metrics,
        mode=settings.mode,
        allow_without_aof=settings.allow_redis_without_aof,
        check_seconds=settings.ledger_check_seconds,
        # the newest ledger clock kept on the bus, so that older Redis files put back while
        # nothing ran are caught at start (production only: local runs remove their queues)
        witness=RabbitWitness(settings.rabbitmq_url, queue=witness_queue(settings.queue_prefix))
        if settings.mode == "production"
        else None,
    )
    checks = {"broker": bus.ping, "redis": ledger.ping, **guard.readiness_checks()}
    context = ServiceContext(
        name=name,
        tenants=tenants,
        ledger=ledger,
        bus=bus,
        metrics=metrics,
        readiness=readiness_checks(checks),
        drain=shutdown,
        nhn=transport,
        receivers=receivers,
    )
    try:
        component = build(context)
        component.register()
        # After the component's own checks of its configuration, before any work: a service
        # never touches a ledger that can be lost silently or that was lost.
        await guard.check_at_start()
        settle_start_up_objects()
        await _start(component, bus, transport)
        ops = HealthServer(
            ops_app(context.readiness, metrics, shutdown, nhn=transport, registry=registry),
            settings.ops_host,
            settings.ops_port,
        )
        api = component.http_app()
        server = None if api is None else HealthServer(api, settings.http_host, settings.http_port)
        try:
            await _start_servers(name, ops, server)
            lost = await _until_shutdown_or_ledger_lost(shutdown, guard)
            if lost is not None:
                # No drain: every further step would take the lost ledger for the truth.
                await _stop_inputs_first(component, server, bus, transport, drain_seconds=0)
                raise lost
            _log.info("%s draining", name)
            await _stop_inputs_first(component, server, bus, transport, settings.drain_seconds)
            await component.close()
        finally:
            if server is not None:
                await server.stop()
            await ops.stop()  # last: the probes see the drain to its end
    finally:
        await guard.aclose()
        await redis.aclose()
        if registry is not None:
            await registry.aclose()
        await asyncio.to_thread(provider.shutdown)
        shutdown.uninstall()
    _log.info("%s stopped", name)


async def _start_servers(name: str, ops: HealthServer, api: HealthServer | None) -> None:
    """The ops port (health, status, metrics), then the API; a port that cannot be had is a
    start-up error (exit code 2, naming it)."""
    try:
        await ops.start()
        if api is not None:
            await api.start()
    except HealthServerError as exc:
        raise StartupError(str(exc)) from exc
    if api is None:
        _log.info("%s started; ops on port %d", name, ops.port)
    else:
        _log.info("%s started; API on port %d, ops on port %d", name, api.port, ops.port)


async def _until_shutdown_or_ledger_lost(
    shutdown: GracefulShutdown, guard: LedgerGuard
) -> LedgerLostError | None:
    """Wait for SIGTERM/SIGINT; the ledger's loss ends the wait too (and is returned)."""
    stopping = asyncio.ensure_future(shutdown.wait())
    watching = asyncio.ensure_future(guard.watch())
    try:
        await asyncio.wait({stopping, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopping, watching):
            task.cancel()
    if watching.done() and not watching.cancelled():
        error = watching.exception()
        if isinstance(error, LedgerLostError):
            return error
        if error is not None:
            raise error
    return None


def redis_options(settings: ServiceSettings) -> dict[str, str]:
    """The Redis client's password and TLS CA from their files (StartupError if unreadable)."""
    options: dict[str, str] = {}
    if settings.redis_password_file is not None:
        try:
            options["password"] = settings.redis_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StartupError(f"redis_password_file cannot be read ({exc.strerror})") from exc
    if settings.redis_ca_file is not None:
        if not settings.redis_url.startswith("rediss://"):
            raise StartupError("redis_ca_file is set, but redis_url is not rediss:// (TLS)")
        if not settings.redis_ca_file.is_file():
            raise StartupError("redis_ca_file is not a readable file")
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    return options


def ops_app(
    readiness: Readiness,
    metrics: ServiceMetrics,
    shutdown: DrainState,
    *,
    nhn: NhnTransport | None = None,
    registry: AddressRegistryClient | None = None,
) -> Starlette:
    """The ops port's app: ``/healthz``, ``/readyz`` (the replica's own checks: broker,
    Redis, the ledger's durability), ``/status`` and ``/metrics``.

    NHN and the Address Registry are down for every replica alike when they are down: they
    are shown in ``/status`` and ``kprgw_external_up{system}``, never in readiness, so that
    an outage of theirs neither empties the Services nor holds up node drains.
    """
    checks: dict[str, Callable[[], Awaitable[bool]]] = {}
    if nhn is not None:
        checks["nhn"] = nhn.ping
    if registry is not None:
        checks["address_registry"] = registry.ping
    external = ExternalSystems(checks, metrics.registry) if checks else None
    return health_app(readiness, metrics.registry, shutdown=shutdown, external=external)


def _receivers(
    name: str, settings: ServiceSettings, redis: Redis
) -> tuple[AddressRegistryClient | None, ReceiverDirectory]:
    if not isinstance(settings, RegistryServiceSettings):
        return None, ReceiverDirectory()
    client = registry_client(name, settings)
    if client is None:
        _log.info("receivers: from each tenant's receiver_override (no Address Registry set)")
    else:
        _log.info("receivers: receiver_override where set, else the Address Registry")
    return client, receiver_directory(settings, redis, client, service_name=name)


async def _start(component: Component, bus: RabbitBus, transport: NhnTransport | None) -> None:
    """Start the inputs, then the component; if anything fails, stop what was started."""
    started: list[Callable[[], Awaitable[None]]] = []
    try:
        await bus.start()
        started.append(bus.stop)
        if transport is not None:
            await transport.start()
            started.append(transport.stop)
        await component.start()
    except BaseException:
        for stop in reversed(started):
            try:
                await stop()
            except Exception:  # the start-up error is the one to report
                _log.exception("stopping after a failed start-up failed")
        raise


async def _stop_inputs_first(
    component: Component,
    server: HealthServer | None,
    bus: RabbitBus,
    transport: NhnTransport | None,
    drain_seconds: float,
) -> None:
    """Stop where work comes from first, so in-flight work can still reach its outputs.

    The API server stops first when it is the source (intake), finishing open requests,
    which still publish; the ops port's probes stay up throughout.
    """
    if component.work_arrives_by is WorkSource.HTTP and server is not None:
        await server.stop(timeout=drain_seconds)
    stops = [bus.stop] + ([transport.stop] if transport is not None else [])
    if component.work_arrives_by is WorkSource.NHN:
        stops.reverse()
    for stop in stops:
        await stop()


def run_service(
    name: str,
    settings_type: type[S],
    build: Callable[[ServiceContext, S], Component],
    *,
    nhn: Callable[[S, TenantsFile], NhnTransport] | None = None,
) -> None:
    """The body of a service's ``__main__``: settings from the environment, then ``serve``."""
    try:
        settings = settings_type()
    except ValidationError as exc:
        _exit(name, f"settings: {describe_settings_errors(exc)}")
    transport = (lambda tenants: nhn(settings, tenants)) if nhn is not None else None
    try:
        # uvloop (and, in uvicorn, httptools): the same asyncio with its loop and HTTP parsing
        # in C; every service spends most of its time in network round trips.
        service = serve(name, settings, lambda context: build(context, settings), nhn=transport)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(service)
    except (TenancyError, StartupError) as exc:
        _exit(name, str(exc))


def describe_settings_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )


def _exit(name: str, reason: str) -> NoReturn:
    print(f"{name}: {reason}", file=sys.stderr)
    raise SystemExit(2)
