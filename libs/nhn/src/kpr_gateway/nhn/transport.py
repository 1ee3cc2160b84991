"""The interface dispatch, receipts and the simulator use to reach the Tjenestebuss."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from kpr_gateway.nhn.wire import NhnMessage


class NhnDelivery(Protocol):
    """A received message; the handler settles it explicitly, exactly once."""

    @property
    def message(self) -> NhnMessage: ...

    async def accept(self) -> None:
        """Done with it: the broker forgets the message."""

    async def reject(self, reason: str) -> None:
        """Never deliverable (the broker dead-letters it); ``reason`` has no personal data."""

    async def release(self) -> None:
        """Not now: the broker delivers it again later."""


NhnHandler = Callable[[NhnDelivery], Awaitable[None]]


class NhnTransport(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop receiving, let handlers in flight finish, close the connection."""

    async def send(self, message: NhnMessage) -> None:
        """Send to ``message.to``; returns once the broker has accepted it (raises NhnSendError)."""

    def subscribe(self, queue: str, handler: NhnHandler, *, credit: int = 10) -> None:
        """Receive from ``queue``; a handler that raises leaves the message released."""

    async def ping(self) -> bool: ...
