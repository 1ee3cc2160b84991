"""The bus the services program against; RabbitBus and MemoryBus implement it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from kpr_gateway.pipeline.delivery import Handler

DEFAULT_PREFETCH = 16


class Bus(Protocol):
    async def start(self) -> None:
        """Declare the topology, connect, start consuming the subscribed queues."""

    async def stop(self) -> None:
        """Stop consuming, wait (bounded) for in-flight handlers, then close."""

    async def publish(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send to a logical queue; returns only once the broker has confirmed it.

        Raises ``PublishError`` when it is refused, unroutable or not confirmed in time.
        Headers starting with ``x-`` are reserved for the bus and are not carried.
        """

    async def park(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        reason: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Put a message that came from outside the bus (e.g. from NHN) on ``<queue>.parked``.

        Same headers as a parked delivery (reason, service, original queue); returns once
        confirmed. ``reason`` is ours: ids and positions, never personal data.
        """

    def subscribe(self, queue: str, handler: Handler, *, prefetch: int = DEFAULT_PREFETCH) -> None:
        """Register the one handler of a logical queue, before ``start``.

        ``prefetch`` bounds the messages handled at once (concurrency per queue).
        """

    async def ping(self) -> bool:
        """True while the bus is started and its broker is reachable (for /readyz)."""

    async def queue_depth(self, queue: str) -> int:
        """Messages waiting on a logical queue: not those in flight or in a retry queue.

        For a backlog gauge; raises ``BusError`` when the broker cannot say.
        """
