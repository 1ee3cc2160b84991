"""Health, status and metrics endpoints: ``/healthz``, ``/readyz``, ``/status`` and ``/metrics``.

- ``/healthz`` (liveness) answers 200 for as long as the process serves it. It stays 200
  while the service drains after SIGTERM: a failing liveness probe during the drain would
  have the kubelet kill the container before in-flight work is finished.
- ``/readyz`` (readiness) answers 200 when every check passes, 503 with the failed checks
  otherwise, and 503 from the moment draining starts, so no new work is routed here. Its
  checks are what this replica needs of its own (the internal broker, Redis).
- ``/status`` (always 200) is the detail: the readiness checks and the external systems
  every tenant shares (NHN, the Address Registry, see ``ExternalSystems``), which are
  reported here and in ``kprgw_external_up`` but never fail readiness.
- ``/metrics`` is the Prometheus exposition (OpenMetrics when the scraper asks for it).

Every service serves these on its own operations port with ``health_app`` and
``HealthServer``, apart from its API (intake's), so that scrapers and probes are admitted to
that port alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Gauge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kpr_gateway.observability.metrics import NAMESPACE, Registries, exposition

_log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[Mapping[str, bool]]]
Check = Callable[[], Awaitable[bool]]
DEFAULT_CHECK_TIMEOUT = 2.0
EXTERNAL_CHECK_INTERVAL: Final = 5.0
"""Seconds an external system's answer is reused: scrapes and /status from several sources
ask NHN and the registry at most this often per replica."""


class DrainState(Protocol):
    """What the endpoints need to know about shutdown (``GracefulShutdown`` provides it)."""

    @property
    def draining(self) -> bool: ...


async def _run_checks(checks: Mapping[str, Check], timeout: float, kind: str) -> dict[str, bool]:
    async def run_one(name: str, check: Check) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return bool(await check())
        except Exception as exc:  # a broken check means down, whatever the reason
            _log.warning("%s check %s failed: %s", kind, name, type(exc).__name__)
            return False

    results = await asyncio.gather(*(run_one(name, check) for name, check in checks.items()))
    return dict(zip(checks, results, strict=True))


def readiness_checks(
    checks: Mapping[str, Check], *, timeout: float = DEFAULT_CHECK_TIMEOUT
) -> Readiness:
    """Combine named checks (e.g. ``{"broker": bus.ping, "redis": ledger.ping}``) into one.

    The checks run concurrently; one that raises or takes longer than ``timeout`` seconds
    counts as failed, so a hanging dependency cannot hang the probe.
    """
    named = dict(checks)

    async def readiness() -> Mapping[str, bool]:
        return await _run_checks(named, timeout, "readiness")

    return readiness


class ExternalSystems:
    """Systems outside the cluster that every tenant shares (NHN's Tjenestebuss, the Address
    Registry): reported, never a reason to be unready.

    When one of them is down it is down for every replica alike. Failing readiness would take
    all of them out of their Services and hold up node drains, and help no one: the work
    waits on its queues either way. So each is checked when someone asks (``/status``, a
    scrape of ``/metrics``; at most every ``interval`` seconds) and shown in
    ``kprgw_external_up{system}`` (1 up, 0 down) and in ``/status``.
    """

    def __init__(
        self,
        checks: Mapping[str, Check],
        registry: CollectorRegistry,
        *,
        timeout: float = DEFAULT_CHECK_TIMEOUT,
        interval: float = EXTERNAL_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = dict(checks)
        self._timeout = timeout
        self._interval = interval
        self._clock = clock
        self._up = Gauge(
            "external_up",
            "1 when an external system every tenant shares (nhn, address_registry) answered "
            "its last check, else 0. Readiness does not depend on it.",
            ("system",),
            namespace=NAMESPACE,
            registry=registry,
        )
        self._last: dict[str, bool] = {}
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> Mapping[str, bool]:
        """Each system's state: checked now, or the answer of less than ``interval`` ago."""
        if not self._checks:
            return {}
        async with self._lock:  # callers at the same moment share one round of checks
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._interval:
                self._last = await _run_checks(self._checks, self._timeout, "external")
                self._checked_at = self._clock()
                for system, up in self._last.items():
                    self._up.labels(system=system).set(1 if up else 0)
            return dict(self._last)


def health_routes(
    readiness: Readiness,
    metrics_registry: Registries,
    *,
    shutdown: DrainState | None = None,
    external: ExternalSystems | None = None,
    readiness_timeout: float = 2 * DEFAULT_CHECK_TIMEOUT,
) -> list[BaseRoute]:
    """The four routes, ready to add to any Starlette app (kept out of OpenAPI)."""

    def draining() -> bool:
        return shutdown is not None and shutdown.draining

    async def readiness_state() -> tuple[int, dict[str, Any]]:
        if draining():
            return 503, {"status": "draining"}
        try:
            async with asyncio.timeout(readiness_timeout):
                checks = {name: bool(ok) for name, ok in (await readiness()).items()}
        except Exception as exc:
            _log.warning("readiness probe failed: %s", type(exc).__name__)
            return 503, {
                "status": "not_ready",
                "error": f"readiness checks failed: {type(exc).__name__}",
            }
        failed = sorted(name for name, ok in checks.items() if not ok)
        body = {"status": "not_ready" if failed else "ready", "checks": checks, "failed": failed}
        return (503 if failed else 200), body

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "draining" if draining() else "ok"})

    async def readyz(_: Request) -> Response:
        status_code, body = await readiness_state()
        return JSONResponse(body, status_code=status_code)

    async def status(_: Request) -> Response:
        body = (await readiness_state())[1]
        systems = dict(await external.check()) if external is not None else {}
        body["external"] = systems
        body["unavailable"] = sorted(name for name, up in systems.items() if not up)
        return JSONResponse(body)

    async def metrics(request: Request) -> Response:
        if external is not None:
            await external.check()  # the gauge as of this scrape
        body, content_type = exposition(metrics_registry, request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    return [
        Route("/healthz", healthz, methods=["GET"], include_in_schema=False),
        Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
        Route("/status", status, methods=["GET"], include_in_schema=False),
        Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
    ]


def health_app(
    readiness: Readiness,
    metrics_registry: Registries,
    *,
    shutdown: DrainState | None = None,
    external: ExternalSystems | None = None,
) -> Starlette:
    """The operations app: only the health, status and metrics routes, for the ops port."""
    return Starlette(
        routes=health_routes(readiness, metrics_registry, shutdown=shutdown, external=external)
    )
