"""The bus on RabbitMQ: FastStream's RabbitBroker (aio-pika underneath), publisher confirms.

- ``start`` connects, declares the topology (idempotent: same arguments every time), then
  starts one consumer per subscription on its own channel with its own prefetch.
- Consumers use FastStream's manual ack policy: the message is acknowledged only after the
  outcome was carried out (retry copy or parked copy confirmed by the broker first).
- ``publish`` is mandatory and waits for the broker's confirm; a returned (unroutable) or
  nacked message, or no confirm in time, raises ``PublishError``.
- ``stop`` cancels the consumers first, waits for in-flight handlers up to
  ``graceful_timeout``, then closes; a handler still running then is cut off and its
  unacknowledged message is redelivered by RabbitMQ.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import aiormq
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import AMQPError
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from faststream.rabbit.schemas import Channel
from faststream.rabbit.schemas.queue import QuorumQueueArgs
from faststream.rabbit.subscriber import RabbitSubscriber
from opentelemetry import trace
from pamqp.commands import Basic
from yarl import URL

from kpr_gateway.pipeline.bus import DEFAULT_PREFETCH
from kpr_gateway.pipeline.delivery import Delivery, Handler, attempt_of
from kpr_gateway.pipeline.delivery import text_headers as _text_headers
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
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_MAX_LENGTHS,
    DEFAULT_RETRY_DELAYS,
    PARKED_SUFFIX,
    RETRY_INFIX,
    WORK_QUEUES,
    QueueSpec,
    Topology,
)
from kpr_gateway.pipeline.tracing import (
    inject_context,
    mark_failed,
    pipeline_tracer,
    producer_span,
)

log = logging.getLogger("kpr_gateway.pipeline.rabbit")

SYSTEM = "rabbitmq"


def _where(url: str) -> str:
    """The broker's address without credentials, for error texts."""
    parsed = URL(url)
    return f"{parsed.host}:{parsed.port}{parsed.path}"


def _rabbit_queue(spec: QueueSpec) -> RabbitQueue:
    arguments = cast("QuorumQueueArgs", dict(spec.arguments))
    return RabbitQueue(spec.name, QueueType.QUORUM, arguments=arguments)


async def _message_itself(message: StreamMessage[Any]) -> Any:
    """Decoder handing the handler the message itself: we read the raw body and headers."""
    return message


class _KeyedLocks:
    """One lock per key while anyone holds it.

    aiormq ties a returned (unroutable) message to its publish by message id, so two
    in-flight publishes with the same id on one channel could get each other's outcome.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class RabbitBus:
    """The Bus protocol on RabbitMQ (see the module docstring for the guarantees)."""

    def __init__(
        self,
        url: str,
        *,
        service_name: str,
        prefix: str = "",
        queues: Iterable[str] = WORK_QUEUES,
        retry_delays: Iterable[float] = DEFAULT_RETRY_DELAYS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        max_lengths: Mapping[str, int] = DEFAULT_MAX_LENGTHS,
        graceful_timeout: float = 30.0,
        publish_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        if max_attempts < 1:
            raise BusError("max_attempts must be at least 1")
        self.service_name = service_name
        self.topology = Topology(
            queues,
            prefix=prefix,
            retry_delays=retry_delays,
            delivery_limit=delivery_limit,
            max_lengths=max_lengths,
        )
        self._where = _where(url)
        self._max_attempts = max_attempts
        self._graceful_timeout = graceful_timeout
        self._publish_timeout = publish_timeout
        self._tracer = pipeline_tracer(tracer_provider)
        self._broker = RabbitBroker(
            url,
            timeout=connect_timeout,
            app_id=service_name,
            # Confirms on; a returned mandatory message fails its publish.
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            # We drain in-flight handlers ourselves, after cancelling the consumers.
            graceful_timeout=None,
            apply_types=False,
            logger=logging.getLogger("kpr_gateway.pipeline.faststream"),
            log_level=logging.DEBUG,
        )
        self._subscribers: list[RabbitSubscriber] = []
        self._subscribed: set[str] = set()
        self._publish_locks = _KeyedLocks()
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._state: BusState = "new"
        self._connection: AbstractRobustConnection | None = None

    # -- Bus protocol -------------------------------------------------------------------

    def subscribe(self, queue: str, handler: Handler, *, prefetch: int = DEFAULT_PREFETCH) -> None:
        check_subscribe(self._state, queue, prefetch=prefetch, subscribed=self._subscribed)
        work = self.topology.work_queue(queue)
        self._subscribed.add(queue)
        subscriber = self._broker.subscriber(
            _rabbit_queue(work.queue),
            channel=Channel(prefetch_count=prefetch),
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=_message_itself,
        )

        async def consume(message: RabbitMessage) -> None:
            await self._consume(queue, handler, message)

        subscriber(consume)
        self._subscribers.append(subscriber)

    async def start(self) -> None:
        check_start(self._state)
        self._state = "starting"
        try:
            connection = await self._broker.connect()
        except (TimeoutError, AMQPError, OSError) as exc:
            self._state = "stopped"
            raise BusError(f"cannot connect to RabbitMQ at {self._where}") from exc
        self._connection = connection
        try:
            await self._declare(connection)
            await self._broker.start()
        except BaseException as exc:
            self._state = "stopped"
            await self._close()
            if isinstance(exc, TimeoutError | AMQPError | OSError):
                raise BusError("starting the consumers failed") from exc
            raise
        self._state = "started"

    async def stop(self) -> None:
        if self._state != "started":
            return
        self._state = "stopping"
        for subscriber in self._subscribers:
            try:
                await subscriber.stop()  # basic.cancel: no new deliveries
            except (AMQPError, OSError) as exc:
                log.warning("cancelling a consumer failed: %s", type(exc).__name__)
        try:
            await asyncio.wait_for(self._drained.wait(), timeout=self._graceful_timeout)
        except TimeoutError:
            log.warning(
                "%d handler(s) still running after %.1fs; their messages will be redelivered",
                self._in_flight,
                self._graceful_timeout,
            )
        await self._close()
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
        await self._send(
            self.topology.physical(queue),
            body,
            message_id=message_id,
            headers=carried,
            span_queue=queue,
        )

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
        work = self.topology.work_queue(queue)
        await self._send(
            work.parked.name,
            body,
            message_id=message_id,
            headers=parked,
            span_queue=f"{queue}{PARKED_SUFFIX}",
        )

    async def ping(self) -> bool:
        if self._state != "started":
            return False
        return await self._broker.ping(timeout=2.0)

    async def queue_depth(self, queue: str) -> int:
        name = self.topology.work_queue(queue).queue.name
        if self._state not in ("started", "stopping") or self._connection is None:
            raise BusError(f"the depth of {name} cannot be read: the bus is not started")
        try:
            # A channel of its own: a failed passive declaration closes the channel it ran on.
            channel = await self._connection.channel(publisher_confirms=False)
            try:
                declared = await channel.declare_queue(name, passive=True)
            finally:
                if not channel.is_closed:
                    await channel.close()
        except (TimeoutError, AMQPError, OSError) as exc:
            raise BusError(f"the depth of {name} cannot be read ({type(exc).__name__})") from exc
        return int(declared.declaration_result.message_count or 0)

    # -- internals ----------------------------------------------------------------------

    async def _declare(self, connection: AbstractRobustConnection) -> None:
        # A channel of its own: a refused declaration closes this channel only, and
        # FastStream's declarer (which caches queues per name, whatever the channel) stays
        # free to bind each subscriber's queue to that subscriber's own channel.
        channel = await connection.channel(publisher_confirms=False)
        try:
            for spec in self.topology.specs():
                await channel.declare_queue(spec.name, durable=True, arguments=dict(spec.arguments))
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise BusError(
                f"queue {spec.name} exists with other arguments; every service must use "
                "the same retry delays and delivery limit (or delete the queue)"
            ) from exc
        except (TimeoutError, AMQPError, OSError) as exc:
            raise BusError(f"declaring queue {spec.name} failed") from exc
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _close(self) -> None:
        try:
            await self._broker.stop()
        except (AMQPError, OSError) as exc:
            log.warning("closing the RabbitMQ connection failed: %s", type(exc).__name__)

    async def _send(
        self,
        physical: str,
        body: bytes,
        *,
        message_id: str,
        headers: dict[str, str],
        span_queue: str,
    ) -> None:
        with producer_span(
            self._tracer, system=SYSTEM, queue=span_queue, message_id=message_id
        ) as span:
            inject_context(headers)
            try:
                async with self._publish_locks.hold(message_id):
                    await self._confirmed_publish(physical, body, message_id, headers)
            except PublishError as exc:
                mark_failed(span, str(exc))
                raise

    async def _confirmed_publish(
        self, physical: str, body: bytes, message_id: str, headers: dict[str, str]
    ) -> None:
        try:
            confirmation = await self._broker.publish(
                body,
                routing_key=physical,
                mandatory=True,
                persist=True,
                message_id=message_id,
                headers=dict(headers),
                timeout=self._publish_timeout,
            )
        except aiormq.exceptions.PublishError as exc:
            raise PublishError(f"unroutable: no queue {physical} (message returned)") from exc
        except aiormq.exceptions.DeliveryError as exc:
            raise PublishError(f"refused by the broker (nack) for {physical}") from exc
        except TimeoutError as exc:
            raise PublishError(
                f"not confirmed within {self._publish_timeout}s for {physical}"
            ) from exc
        except (AMQPError, OSError) as exc:
            raise PublishError(
                f"not confirmed for {physical}: {type(exc).__name__} on the connection"
            ) from exc
        if not isinstance(confirmation, Basic.Ack):
            raise PublishError(f"not confirmed for {physical}: {type(confirmation).__name__}")

    async def _consume(self, queue: str, handler: Handler, message: RabbitMessage) -> None:
        raw = message.raw_message
        headers = _text_headers(raw.headers)
        delivery = Delivery(
            body=raw.body,
            headers=headers,
            message_id=raw.message_id or "",
            queue=queue,
            attempt=attempt_of(headers),
        )

        async def settle(outcome: Outcome) -> None:
            await self._settle(delivery, message, outcome)

        self._in_flight += 1
        self._drained.clear()
        try:
            await process(
                delivery,
                handler,
                settle,
                tracer=self._tracer,
                system=SYSTEM,
                max_attempts=self._max_attempts,
            )
        except Exception as exc:
            # The retry or parked copy was not confirmed: give the message back. If this
            # keeps happening the delivery limit dead-letters it to the parking queue.
            log.warning(
                "could not settle message %s on %s (%s); returning it to the queue",
                delivery.message_id,
                queue,
                type(exc).__name__,
            )
            try:
                await message.nack(requeue=True)
            except (AMQPError, OSError) as nack_exc:
                log.warning("nack failed: %s", type(nack_exc).__name__)
        finally:
            # The decoder hands the message itself, and FastStream caches what a decoder
            # gave on the message: a cycle that kept every body (a chunk is megabytes) alive
            # until the collector's next full pass.
            message.clear_cache()
            self._in_flight -= 1
            if self._in_flight == 0:
                self._drained.set()

    async def _settle(self, delivery: Delivery, message: RabbitMessage, outcome: Outcome) -> None:
        work = self.topology.work_queue(delivery.queue)
        match outcome:
            case Ack():
                pass
            case Retry():
                step = work.retry_step(delivery.attempt)
                await self._send(
                    step.queue.name,
                    delivery.body,
                    message_id=delivery.message_id,
                    headers=retry_headers(delivery, outcome),
                    span_queue=f"{delivery.queue}{RETRY_INFIX}{step.number}",
                )
            case Park():
                await self._send(
                    work.parked.name,
                    delivery.body,
                    message_id=delivery.message_id,
                    headers=park_headers(delivery, outcome, service=self.service_name),
                    span_queue=f"{delivery.queue}{PARKED_SUFFIX}",
                )
        await message.ack()
