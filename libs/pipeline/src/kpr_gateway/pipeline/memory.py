"""An in-process bus with the semantics of RabbitBus, for the embedded mode and unit tests.

``MemoryBroker`` stands in for RabbitMQ: one asyncio queue per logical queue, retry delays
as timers (the topology's delays times ``delay_scale``, which tests shrink), and parked
messages kept for ``parked(queue)``. Each service gets its own ``MemoryBus`` on a shared
broker and starts and stops it as it would a RabbitBus; a bus made without a broker gets
one of its own. Handlers run under the same outcome rules (``processing.process``); a
handler cut off by ``stop`` puts its message back, as RabbitMQ redelivers an unacked one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from opentelemetry import trace

from kpr_gateway.pipeline.bus import DEFAULT_PREFETCH
from kpr_gateway.pipeline.delivery import (
    PARK_REASON_HEADER,
    Delivery,
    Handler,
    attempt_of,
)
from kpr_gateway.pipeline.errors import BusError, PublishError
from kpr_gateway.pipeline.guards import (
    BusState,
    check_start,
    check_subscribe,
    park_headers_from_outside,
    publish_headers,
)
from kpr_gateway.pipeline.outcome import (
    DEFAULT_MAX_ATTEMPTS,
    Ack,
    Outcome,
    Park,
    Retry,
    park_headers,
    retry_headers,
)
from kpr_gateway.pipeline.processing import process
from kpr_gateway.pipeline.queues import (
    DEFAULT_MAX_LENGTHS,
    DEFAULT_RETRY_DELAYS,
    PARKED_SUFFIX,
    RETRY_INFIX,
    WORK_QUEUES,
    Topology,
)
from kpr_gateway.pipeline.tracing import inject_context, pipeline_tracer, producer_span

log = logging.getLogger("kpr_gateway.pipeline.memory")

SYSTEM = "memory"


@dataclass(frozen=True, slots=True)
class _Message:
    body: bytes = field(repr=False)
    headers: Mapping[str, str]
    message_id: str


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A parked message; ``queue`` is the logical queue it was taken from."""

    body: bytes = field(repr=False)
    headers: Mapping[str, str]
    message_id: str
    queue: str

    @property
    def reason(self) -> str:
        return self.headers.get(PARK_REASON_HEADER, "")


class MemoryBroker:
    """The queues that MemoryBus instances share, like services share one RabbitMQ."""

    def __init__(
        self,
        *,
        queues: Iterable[str] = WORK_QUEUES,
        retry_delays: Iterable[float] = DEFAULT_RETRY_DELAYS,
        delay_scale: float = 1.0,
        max_lengths: Mapping[str, int] = DEFAULT_MAX_LENGTHS,
    ) -> None:
        if delay_scale < 0:
            raise BusError("delay_scale must not be negative")
        self.topology = Topology(queues, retry_delays=retry_delays, max_lengths=max_lengths)
        self._delay_scale = delay_scale
        self._queues: dict[str, asyncio.Queue[_Message]] = {
            name: asyncio.Queue() for name in self.topology.queue_names
        }
        self._parked: dict[str, list[ParkedMessage]] = {n: [] for n in self.topology.queue_names}
        self._timers: dict[int, tuple[asyncio.TimerHandle, str, _Message]] = {}
        self._timer_seq = 0
        self._unsettled = 0
        self._settled = asyncio.Event()
        self._settled.set()

    def parked(self, queue: str) -> list[ParkedMessage]:
        """The messages parked from a logical queue, oldest first."""
        self.topology.work_queue(queue)
        return list(self._parked[queue])

    def depth(self, queue: str) -> int:
        """Messages waiting on a logical queue (not counting in-flight or delayed ones)."""
        self.topology.work_queue(queue)
        return self._queues[queue].qsize()

    async def wait_settled(self) -> None:
        """Wait until every published message was acknowledged or parked."""
        await self._settled.wait()

    def close(self) -> None:
        """Cancel the retry timers, putting their messages back on their queues at once."""
        for timer, queue, message in self._timers.values():
            timer.cancel()
            self._queues[queue].put_nowait(message)
        self._timers.clear()

    # -- used by MemoryBus ----------------------------------------------------------------

    def _enqueue(self, queue: str, message: _Message) -> None:
        if queue not in self.topology:
            raise PublishError(f"unroutable: no queue {queue!r}")
        limit = self.topology.max_length(queue)
        if limit is not None and self._queues[queue].qsize() > limit:
            # As a quorum queue with reject-publish: the publish that passes the limit is
            # taken, the next ones are refused (the publisher is told, nothing is dropped).
            raise PublishError(f"refused by the broker (nack) for {queue}: the queue is full")
        self._unsettled += 1
        self._settled.clear()
        self._queues[queue].put_nowait(message)

    def _queue(self, queue: str) -> asyncio.Queue[_Message]:
        return self._queues[queue]

    def _acked(self) -> None:
        self._unsettled -= 1
        if self._unsettled == 0:
            self._settled.set()

    def _park(self, message: ParkedMessage) -> None:
        """Park a delivered message: it leaves the unsettled count."""
        self._parked[message.queue].append(message)
        self._acked()

    def _park_from_outside(self, message: ParkedMessage) -> None:
        """Park a message that never was on a work queue (``Bus.park``): nothing to settle."""
        self._parked[message.queue].append(message)

    def _retry_later(self, queue: str, message: _Message, delay_seconds: float) -> None:
        self._timer_seq += 1
        key = self._timer_seq
        timer = asyncio.get_running_loop().call_later(
            delay_seconds * self._delay_scale, self._retry_due, key
        )
        self._timers[key] = (timer, queue, message)

    def _retry_due(self, key: int) -> None:
        _, queue, message = self._timers.pop(key)
        self._queues[queue].put_nowait(message)


@dataclass(frozen=True, slots=True)
class _Subscription:
    queue: str
    handler: Handler
    prefetch: int


class MemoryBus:
    """The Bus protocol in one process: no broker server, same ack / retry / park behaviour."""

    def __init__(
        self,
        *,
        service_name: str,
        broker: MemoryBroker | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        graceful_timeout: float = 10.0,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        if max_attempts < 1:
            raise BusError("max_attempts must be at least 1")
        self.service_name = service_name
        self.broker = broker if broker is not None else MemoryBroker()
        self.topology = self.broker.topology
        self._max_attempts = max_attempts
        self._graceful_timeout = graceful_timeout
        self._tracer = pipeline_tracer(tracer_provider)
        self._subscriptions: list[_Subscription] = []
        self._workers: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._state: BusState = "new"

    # -- Bus protocol -------------------------------------------------------------------

    def subscribe(self, queue: str, handler: Handler, *, prefetch: int = DEFAULT_PREFETCH) -> None:
        subscribed = {sub.queue for sub in self._subscriptions}
        check_subscribe(self._state, queue, prefetch=prefetch, subscribed=subscribed)
        self.topology.work_queue(queue)
        self._subscriptions.append(_Subscription(queue, handler, prefetch))

    async def start(self) -> None:
        check_start(self._state)
        self._state = "started"
        for sub in self._subscriptions:
            for _ in range(sub.prefetch):
                self._workers.add(asyncio.create_task(self._work(sub)))

    async def stop(self) -> None:
        if self._state != "started":
            return
        self._state = "stopping"
        for task in self._workers - self._busy:
            task.cancel()  # idle: waiting on an empty queue
        busy = self._workers & self._busy
        if busy:
            _, late = await asyncio.wait(busy, timeout=self._graceful_timeout)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._state = "stopped"

    async def publish(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        carried = publish_headers(self._state, message_id=message_id, headers=headers)
        with producer_span(self._tracer, system=SYSTEM, queue=queue, message_id=message_id):
            inject_context(carried)
            self.broker._enqueue(queue, _Message(bytes(body), carried, message_id))

    async def park(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        reason: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parked = park_headers_from_outside(
            self._state, headers=headers, reason=reason, service=self.service_name, queue=queue
        )
        self.broker.topology.work_queue(queue)  # refuses a queue outside the topology
        with producer_span(
            self._tracer, system=SYSTEM, queue=f"{queue}{PARKED_SUFFIX}", message_id=message_id
        ):
            inject_context(parked)
        self.broker._park_from_outside(ParkedMessage(bytes(body), parked, message_id, queue))

    async def ping(self) -> bool:
        return self._state == "started"

    async def queue_depth(self, queue: str) -> int:
        return self.broker.depth(queue)

    # -- inspection (tests, the embedded mode) ------------------------------------------

    def parked(self, queue: str) -> list[ParkedMessage]:
        """The messages parked from a logical queue, oldest first."""
        return self.broker.parked(queue)

    def depth(self, queue: str) -> int:
        """Messages waiting on a logical queue (not counting in-flight or delayed ones)."""
        return self.broker.depth(queue)

    async def wait_settled(self) -> None:
        """Wait until every published message was acknowledged or parked."""
        await self.broker.wait_settled()

    # -- internals ----------------------------------------------------------------------

    async def _work(self, sub: _Subscription) -> None:
        queue = self.broker._queue(sub.queue)
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always runs inside its worker task
        while self._state == "started":
            message = await queue.get()  # cancelling here leaves the message queued
            self._busy.add(task)
            try:
                await self._handle(sub, message)
            finally:
                self._busy.discard(task)

    async def _handle(self, sub: _Subscription, message: _Message) -> None:
        delivery = Delivery(
            body=message.body,
            headers=dict(message.headers),
            message_id=message.message_id,
            queue=sub.queue,
            attempt=attempt_of(message.headers),
        )
        settled = False

        async def settle(outcome: Outcome) -> None:
            nonlocal settled
            self._settle(delivery, message, outcome)
            settled = True

        try:
            await process(
                delivery,
                sub.handler,
                settle,
                tracer=self._tracer,
                system=SYSTEM,
                max_attempts=self._max_attempts,
            )
        except asyncio.CancelledError:
            if not settled:  # cut off by stop(): like an unacknowledged message
                self.broker._queue(sub.queue).put_nowait(message)
            raise
        except Exception as error:
            # Only a bug can get here; park rather than loop on it (RabbitMQ's delivery
            # limit does the same for a consumer that keeps failing).
            log.exception("settling message %s on %s failed", message.message_id, sub.queue)
            if not settled:
                self._settle(delivery, message, Park(f"could not settle: {type(error).__name__}"))

    def _settle(self, delivery: Delivery, message: _Message, outcome: Outcome) -> None:
        queue = delivery.queue
        match outcome:
            case Ack():
                self.broker._acked()
            case Retry():
                step = self.topology.work_queue(queue).retry_step(delivery.attempt)
                with producer_span(
                    self._tracer,
                    system=SYSTEM,
                    queue=f"{queue}{RETRY_INFIX}{step.number}",
                    message_id=message.message_id,
                ):
                    headers = retry_headers(delivery, outcome)
                    inject_context(headers)
                retried = _Message(message.body, headers, message.message_id)
                self.broker._retry_later(queue, retried, step.delay_seconds)
            case Park():
                with producer_span(
                    self._tracer,
                    system=SYSTEM,
                    queue=f"{queue}{PARKED_SUFFIX}",
                    message_id=message.message_id,
                ):
                    headers = park_headers(delivery, outcome, service=self.service_name)
                    inject_context(headers)
                self.broker._park(ParkedMessage(message.body, headers, message.message_id, queue))
