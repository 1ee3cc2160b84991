"""Health and metrics endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/healthz`` (liveness) answers 200 for as long as the process serves it. It stays 200
  while the service drains after SIGTERM: a failing liveness probe during the drain would
  have the kubelet kill the container before in-flight work is finished.
- ``/readyz`` (readiness) answers 200 when every check passes, 503 with the failed checks
  otherwise, and 503 from the moment draining starts, so no new work is routed here.
- ``/metrics`` is the Prometheus exposition (OpenMetrics when the scraper asks for it).

Services without an HTTP API serve ``health_app`` with ``HealthServer``; intake adds the same
routes to its FastAPI app with ``add_health_routes``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kpr_gateway.observability.metrics import Registries, exposition

_log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[Mapping[str, bool]]]
Check = Callable[[], Awaitable[bool]]
DEFAULT_CHECK_TIMEOUT = 2.0


class DrainState(Protocol):
    """What the endpoints need to know about shutdown (``GracefulShutdown`` provides it)."""

    @property
    def draining(self) -> bool: ...


def readiness_checks(
    checks: Mapping[str, Check], *, timeout: float = DEFAULT_CHECK_TIMEOUT
) -> Readiness:
    """Combine named checks (e.g. ``{"broker": bus.ping, "redis": ledger.ping}``) into one.

    The checks run concurrently; one that raises or takes longer than ``timeout`` seconds
    counts as failed, so a hanging dependency cannot hang the probe.
    """
    named = dict(checks)

    async def run_one(name: str, check: Check) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return bool(await check())
        except Exception as exc:  # a broken check means not ready, whatever the reason
            _log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            return False

    async def readiness() -> Mapping[str, bool]:
        results = await asyncio.gather(*(run_one(name, check) for name, check in named.items()))
        return dict(zip(named, results, strict=True))

    return readiness


def health_routes(
    readiness: Readiness,
    metrics_registry: Registries,
    *,
    shutdown: DrainState | None = None,
    readiness_timeout: float = 2 * DEFAULT_CHECK_TIMEOUT,
) -> list[BaseRoute]:
    """The three routes, ready to add to any Starlette or FastAPI app (kept out of OpenAPI)."""

    def draining() -> bool:
        return shutdown is not None and shutdown.draining

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "draining" if draining() else "ok"})

    async def readyz(_: Request) -> Response:
        if draining():
            return JSONResponse({"status": "draining"}, status_code=503)
        try:
            async with asyncio.timeout(readiness_timeout):
                checks = {name: bool(ok) for name, ok in (await readiness()).items()}
        except Exception as exc:
            _log.warning("readiness probe failed: %s", type(exc).__name__)
            return JSONResponse(
                {"status": "not_ready", "error": f"readiness checks failed: {type(exc).__name__}"},
                status_code=503,
            )
        failed = sorted(name for name, ok in checks.items() if not ok)
        return JSONResponse(
            {"status": "not_ready" if failed else "ready", "checks": checks, "failed": failed},
            status_code=503 if failed else 200,
        )

    async def metrics(request: Request) -> Response:
        body, content_type = exposition(metrics_registry, request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    return [
        Route("/healthz", healthz, methods=["GET"], include_in_schema=False),
        Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
        Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
    ]


def health_app(
    readiness: Readiness,
    metrics_registry: Registries,
    *,
    shutdown: DrainState | None = None,
) -> Starlette:
    """A small app with only the health routes, for services without an HTTP API."""
    return Starlette(routes=health_routes(readiness, metrics_registry, shutdown=shutdown))


def add_health_routes(
    app: Starlette,
    readiness: Readiness,
    metrics_registry: Registries,
    *,
    shutdown: DrainState | None = None,
) -> None:
    """Add the health routes to an existing app (FastAPI is a Starlette subclass)."""
    app.router.routes.extend(health_routes(readiness, metrics_registry, shutdown=shutdown))
