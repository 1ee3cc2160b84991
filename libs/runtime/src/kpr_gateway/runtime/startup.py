"""Holding deliveries back until a component has started.

The runtime starts the bus and the NHN transport before ``Component.start()`` (so that
``start()`` may use them), so a delivery can reach a handler while ``start()`` is still
resolving what the handlers need (receivers from the Address Registry, say). Such handlers
wait at a ``StartGate``; if ``start()`` fails they get ``NotStartedError`` (transient: the
message goes back for a later attempt) while the process stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kpr_gateway.pipeline.errors import TransientError


class NotStartedError(TransientError):
    """The component did not start, so the delivery cannot be handled; tried again later."""


class StartGate:
    """Opens when the component's start-up work is done; handlers ``await gate.wait()``."""

    def __init__(self) -> None:
        self._done = asyncio.Event()
        self._failure: str | None = None

    @property
    def is_open(self) -> bool:
        return self._done.is_set() and self._failure is None

    async def run(self, start: Callable[[], Awaitable[None]]) -> None:
        """Run the start-up work, then open; if it fails, waiting handlers fail too."""
        try:
            await start()
        except BaseException as exc:
            self._failure = type(exc).__name__
            self._done.set()
            raise
        self._done.set()

    async def wait(self) -> None:
        await self._done.wait()
        if self._failure is not None:
            raise NotStartedError(f"the service did not start ({self._failure})")
