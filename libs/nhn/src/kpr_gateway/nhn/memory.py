"""An in-process Tjenestebuss for the embedded mode and fast tests.

``InMemoryNhnBroker`` holds the queues; each party (the gateway, the simulator)
connects with its own ``InMemoryNhnTransport``. Settlement follows AMQP: accept
removes, release puts the message back at the head of its queue, reject moves it
to the broker's dead letters with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from kpr_gateway.nhn.errors import NhnError, NhnSendError
from kpr_gateway.nhn.transport import NhnHandler
from kpr_gateway.nhn.wire import NhnMessage

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    queue: str
    message: NhnMessage
    reason: str


class InMemoryNhnBroker:
    def __init__(self) -> None:
        self._queues: defaultdict[str, asyncio.Queue[NhnMessage]] = defaultdict(asyncio.Queue)
        self.dead_letters: list[DeadLetter] = []

    def queue(self, name: str) -> asyncio.Queue[NhnMessage]:
        return self._queues[name]

    def depth(self, name: str) -> int:
        return self._queues[name].qsize()

    def put(self, message: NhnMessage) -> None:
        self._queues[message.to].put_nowait(message)

    def requeue(self, queue: str, message: NhnMessage) -> None:
        # asyncio.Queue has no put-front; a released message goes to the tail, which keeps
        # at-least-once delivery (order on a queue is not promised by the profile either).
        self._queues[queue].put_nowait(message)


@dataclass(slots=True)
class _Delivery:
    broker: InMemoryNhnBroker
    queue: str
    message: NhnMessage
    settled: bool = field(default=False)

    def _settle(self) -> None:
        if self.settled:
            raise NhnError(f"message {self.message.message_id} on {self.queue} settled twice")
        self.settled = True

    async def accept(self) -> None:
        self._settle()

    async def reject(self, reason: str) -> None:
        self._settle()
        self.broker.dead_letters.append(DeadLetter(self.queue, self.message, reason))

    async def release(self) -> None:
        self._settle()
        self.broker.requeue(self.queue, self.message)


class InMemoryNhnTransport:
    """One party's connection to an ``InMemoryNhnBroker``."""

    def __init__(self, broker: InMemoryNhnBroker, *, release_delay: float = 0.05) -> None:
        self._broker = broker
        self._release_delay = release_delay
        self._subscriptions: list[tuple[str, NhnHandler, int]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    async def start(self) -> None:
        self._running = True
        for queue, handler, credit in self._subscriptions:
            for _ in range(credit):
                self._tasks.append(asyncio.create_task(self._consume(queue, handler)))

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def send(self, message: NhnMessage) -> None:
        if not message.to:
            raise NhnSendError(f"message {message.message_id} has no destination queue")
        self._broker.put(message)

    def subscribe(self, queue: str, handler: NhnHandler, *, credit: int = 10) -> None:
        self._subscriptions.append((queue, handler, max(1, credit)))
        if self._running:
            for _ in range(max(1, credit)):
                self._tasks.append(asyncio.create_task(self._consume(queue, handler)))

    async def ping(self) -> bool:
        return self._running

    async def _consume(self, queue: str, handler: NhnHandler) -> None:
        source = self._broker.queue(queue)
        while self._running:
            message = await source.get()
            work = asyncio.create_task(
                self._handle(_Delivery(self._broker, queue, message), handler)
            )
            try:
                # Shielded: stop() cancels the waiting loop, never a handler in mid-work.
                await asyncio.shield(work)
            except asyncio.CancelledError:
                await work
                return

    async def _handle(self, delivery: _Delivery, handler: NhnHandler) -> None:
        try:
            await handler(delivery)
        except Exception:
            _log.exception("handler failed on %s; message released", delivery.queue)
            if not delivery.settled:
                await asyncio.sleep(self._release_delay)
                await delivery.release()
            return
        if not delivery.settled:
            _log.error("handler on %s left a message unsettled; released", delivery.queue)
            await delivery.release()
