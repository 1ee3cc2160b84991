"""Run an ASGI app (the ops port's ``health_app``, or a service's own API) with uvicorn inside
the service's own event loop.

uvicorn normally owns the process's signals and re-raises them when it stops; here the
service owns them (``GracefulShutdown``), so this server never touches signal handlers. The
listening socket is bound here, before uvicorn starts, so a busy port is a clear error at
``start()`` rather than a ``sys.exit`` from inside uvicorn, and port 0 works for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp

from kpr_gateway.observability.errors import HealthServerError

_STARTUP_POLL_SECONDS = 0.01


class _LoopServer(uvicorn.Server):
    """uvicorn's server without its signal capture."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits the process on start-up failures; we report them
        raise HealthServerError(f"uvicorn gave up (exit code {exc.code})") from None


class HealthServer:
    """``await start()`` binds and serves in the background; ``await stop()`` ends it."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        lifespan: Literal["auto", "on", "off"] = "off",
        startup_timeout: float = 10.0,
    ) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan=lifespan,
            log_config=None,  # records go to the root logger, i.e. setup_logging's handler
            access_log=False,  # probes every few seconds would drown the service's own lines
            ws="none",
            server_header=False,
        )
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._server: _LoopServer | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port actually listened on (differs from the one asked for when that was 0)."""
        if self._socket is None:
            raise HealthServerError("the health server is not running")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        if self._task is not None:
            raise HealthServerError("the health server is already running")
        self._socket = self._bind()
        self._server = _LoopServer(self._config)
        self._task = asyncio.create_task(_serve(self._server, self._socket), name="health-server")
        try:
            async with asyncio.timeout(self._startup_timeout):
                while not self._server.started:
                    if self._task.done():
                        break
                    await asyncio.sleep(_STARTUP_POLL_SECONDS)
        except TimeoutError:
            await self.stop()
            raise HealthServerError("the health server did not start in time") from None
        if self._task.done():
            failure = self._task.exception() if not self._task.cancelled() else None
            self._reset()
            raise HealthServerError("the health server stopped while starting") from failure

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: finish open requests for up to ``timeout`` seconds, then close."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        except TimeoutError:
            server.force_exit = True
            await task
        finally:
            self._reset()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, protocol, _, address = infos[0]
            sock = socket.socket(family, kind, protocol)
        except OSError as exc:
            raise HealthServerError(f"cannot resolve health address {self._host!r}") from exc
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(self._config.backlog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise HealthServerError(
                f"cannot listen on {self._host}:{self._port}: {exc.strerror}"
            ) from exc
        return sock

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._server = self._socket = None
        self._task = None
