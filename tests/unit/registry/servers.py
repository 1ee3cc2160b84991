"""Small real HTTP servers that answer what a test needs: fixed bytes, or nothing at all."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kpr_gateway.observability import HealthServer


def fixed_app(content: bytes, *, status: int = 200, media_type: str | None = None) -> Starlette:
    """Answers every POST to /registry with ``content``."""

    async def endpoint(request: Request) -> Response:
        await request.body()
        return Response(content, status_code=status, media_type=media_type)

    return Starlette(routes=[Route("/registry", endpoint, methods=["POST"])])


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A real server on a free port that reads the request and never answers (until the end)."""
    release = asyncio.Event()

    async def endpoint(request: Request) -> Response:
        await request.body()
        await release.wait()
        return Response(b"", status_code=204)

    server = HealthServer(
        Starlette(routes=[Route("/registry", endpoint, methods=["POST"])]), "127.0.0.1", 0
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/registry"
    finally:
        release.set()
        await server.stop()


def closed_port_url() -> str:
    """A URL on a port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/registry"
