"""A witness of the ledger outside Redis: the newest ledger clock the services saw, on the bus.

A ledger restored from older files while every service was stopped carries a valid marker
and no hold, and its clock is only lower than what the services saw before: no running
service is left to notice. The witness remembers it for them. Each check of a running
service's guard writes ``{generation, incarnation, clock}`` to a queue that keeps one message
(a quorum queue, ``x-max-length`` 1, the oldest dropped), so the newest mark survives a
restart of the broker and of every service; at start the guard compares the ledger with it
(``behind``).

Reading does not take the mark away: a copy is published before the read message is
acknowledged. Concurrent guards may leave a mark a tick older than the newest: the comparison
then catches copies older than one check, which is what it is for.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from aio_pika.exceptions import AMQPError
from pamqp.common import FieldTable

from kpr_gateway.runtime.component import StartupError

WITNESS_QUEUE = "ledger-witness"
_QUEUE_ARGUMENTS: FieldTable = {
    "x-queue-type": "quorum",
    "x-max-length": 1,
    "x-overflow": "drop-head",
}


def witness_queue(prefix: str) -> str:
    """The witness' queue under the deployment's queue prefix (named as the pipeline's are)."""
    return f"{prefix}.{WITNESS_QUEUE}" if prefix else WITNESS_QUEUE


class WitnessUnavailableError(StartupError):
    """The witness could not be read or written (the guard logs it and goes on: the witness
    is a second line behind the marker and the clock in Redis)."""


@dataclass(frozen=True, slots=True)
class LedgerMark:
    generation: str
    incarnation: int
    clock: int


def behind(ledger: LedgerMark, witnessed: LedgerMark) -> bool:
    """True when the ledger is older than what was witnessed. ``ledger.clock`` is a value
    just taken (incremented): a ledger that kept everything is always ahead. Marks of another
    generation (a ledger started anew by ``kprgw ledger init``) are not compared."""
    if ledger.generation != witnessed.generation:
        return False
    return (witnessed.incarnation, witnessed.clock) >= (ledger.incarnation, ledger.clock)


class LedgerWitness(Protocol):
    async def last(self) -> LedgerMark | None:
        """The newest mark kept, None when there is none. Raises WitnessUnavailableError."""

    async def record(self, mark: LedgerMark) -> None:
        """Keep ``mark`` as the newest. Raises WitnessUnavailableError."""

    async def aclose(self) -> None: ...


class RabbitWitness:
    """The witness as a one-message queue on RabbitMQ (AMQP 0-9-1), on a connection of its
    own that is opened on first use and kept."""

    def __init__(self, url: str, *, queue: str = WITNESS_QUEUE, timeout: float = 10.0) -> None:
        self._url = url
        self._queue_name = queue
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None

    async def last(self) -> LedgerMark | None:
        queue, channel = await self._open()
        try:
            message = await queue.get(no_ack=False, fail=False, timeout=self._timeout)
            if message is None:
                return None
            # the copy first: a crash before the ack leaves two equal marks, never none
            await self._publish(channel, message.body)
            await message.ack()
        except (AMQPError, OSError, TimeoutError) as exc:
            await self._forget()
            raise WitnessUnavailableError(f"the ledger witness cannot be read: {exc!r}") from exc
        return _mark_of(message.body)

    async def record(self, mark: LedgerMark) -> None:
        _, channel = await self._open()
        try:
            await self._publish(channel, json.dumps(asdict(mark)).encode())
        except (AMQPError, OSError, TimeoutError) as exc:
            await self._forget()
            raise WitnessUnavailableError(f"the ledger witness cannot be written: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._forget()

    async def _open(self) -> tuple[AbstractQueue, AbstractChannel]:
        if self._queue is not None and self._channel is not None and not self._channel.is_closed:
            return self._queue, self._channel
        await self._forget()
        try:
            # aio-pika comes with the pipeline's bus
            connection = self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
            channel = self._channel = await connection.channel(publisher_confirms=True)
            queue = self._queue = await channel.declare_queue(
                self._queue_name, durable=True, arguments=_QUEUE_ARGUMENTS
            )
        except (AMQPError, OSError, TimeoutError) as exc:
            await self._forget()
            raise WitnessUnavailableError(
                f"the ledger witness queue cannot be opened: {type(exc).__name__}"
            ) from exc
        return queue, channel

    async def _publish(self, channel: AbstractChannel, body: bytes) -> None:
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(
            message, routing_key=self._queue_name, timeout=self._timeout
        )

    async def _forget(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._queue = None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(AMQPError, OSError):  # a broken one: nothing to add
                await connection.close()


def _mark_of(body: bytes) -> LedgerMark | None:
    """A mark as ``record`` writes it; anything else is no mark (never a reason to stop)."""
    try:
        value = json.loads(body)
        return LedgerMark(
            generation=str(value["generation"]),
            incarnation=int(value["incarnation"]),
            clock=int(value["clock"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
