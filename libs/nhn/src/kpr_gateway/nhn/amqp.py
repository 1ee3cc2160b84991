"""NhnTransport over AMQP 1.0 (qpid-proton): the Tjenestebuss as the gateway reaches it.

The proton side (``amqp_proton``) runs in its own thread; this module is the asyncio face:
``send`` and settlements are handed to that thread and awaited as futures that it resolves
through ``call_soon_threadsafe``; received messages are handed back the same way and handled
as tasks on the event loop. Nothing here blocks the loop.

Semantics:
- ``send`` returns only once the broker settled the message as accepted. Rejected,
  released, modified, no settlement within ``send_timeout``, or a connection lost before the
  settlement raise ``NhnSendError``. Sends not yet written when the connection drops wait for
  the reconnect (within their timeout) and go out then. Delivery is at least once: after an
  ``NhnSendError`` the broker may still have taken the message (it was written, but its
  settlement never came back), so a caller that sends it again can make a duplicate with
  the same message-id; receivers deduplicate on message-id.
- Each subscription is a receiver link with manual settlement and ``credit`` messages in
  flight at most; credit is given back as messages are settled. A handler that raises, or
  returns without settling, has its message released, so that RabbitMQ delivers it again
  (released, not modified with delivery-failed: RabbitMQ 3.x's AMQP 1.0 plugin refuses the
  modified outcome and detaches the link). After the connection was lost a message cannot be
  settled any more: the broker delivers it again, ``accept``/``reject`` raise ``NhnError``
  and ``release`` is quietly done.
- RabbitMQ 3.x's AMQP 1.0 plugin accepts a message for which no queue is bound and drops it;
  ``verify_queues`` checks, before the first send to a queue, that the queue exists (by
  attaching a receiver with no credit) and fails the send if it does not. NHN does not let a
  party read other parties' queues: a refused look counts as "exists". A missing exchange is
  always an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from kpr_gateway.nhn.amqp_contract import OutgoingSend, Settlement, WorkerSettings
from kpr_gateway.nhn.amqp_endpoint import AmqpEndpoint, parse_endpoint
from kpr_gateway.nhn.amqp_local import LocalQueues
from kpr_gateway.nhn.amqp_proton import ProtonWorker
from kpr_gateway.nhn.errors import NhnError, NhnSendError
from kpr_gateway.nhn.transport import NhnHandler
from kpr_gateway.nhn.wire import NhnMessage

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_F = TypeVar("_F", bound=asyncio.Future[Any])


@dataclass(frozen=True, slots=True)
class _Subscription:
    id: int
    queue: str
    handler: NhnHandler
    credit: int


class AmqpDelivery:
    """A received message; settle it once with accept, reject or release."""

    __slots__ = ("_key", "_message", "_queue", "_transport", "settled")

    def __init__(
        self, transport: AmqpNhnTransport, key: int, queue: str, message: NhnMessage
    ) -> None:
        self._transport = transport
        self._key = key
        self._queue = queue
        self._message = message
        self.settled = False

    @property
    def message(self) -> NhnMessage:
        return self._message

    @property
    def queue(self) -> str:
        return self._queue

    async def accept(self) -> None:
        await self._settle(Settlement.ACCEPT, "")

    async def reject(self, reason: str) -> None:
        await self._settle(Settlement.REJECT, reason)

    async def release(self) -> None:
        await self._settle(Settlement.RELEASE, "")

    async def _settle(self, settlement: Settlement, reason: str) -> None:
        if self.settled:
            raise NhnError(f"message {self._message.message_id} on {self._queue} settled twice")
        self.settled = True
        done = await self._transport._settle(self._key, settlement, reason)
        if not done and settlement in (Settlement.ACCEPT, Settlement.REJECT):
            raise NhnError(
                f"message {self._message.message_id} on {self._queue}: connection lost before "
                f"it was settled; the broker delivers it again"
            )


class _Bridge:
    """WorkerEvents for the proton thread: every call hops onto the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: AmqpNhnTransport) -> None:
        self._loop = loop
        self._transport = transport

    def _hop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(callback, *args)

    def connection_changed(
        self, connected: bool, problem: str | None, *, login_refused: bool = False
    ) -> None:
        self._hop(self._transport._connection_changed, connected, problem, login_refused)

    def delivered(self, subscription: int, key: int, message: NhnMessage) -> None:
        self._hop(self._transport._delivered, subscription, key, message)

    def resolver(self, future: asyncio.Future[_T]) -> Callable[[_T], None]:
        return partial(self._hop, _resolve, future)


def _resolve(future: asyncio.Future[_T], value: _T) -> None:
    if not future.done():
        future.set_result(value)


class AmqpNhnTransport:
    """NhnTransport on one AMQP 1.0 connection per credential set, reconnecting with backoff."""

    def __init__(
        self,
        url: str | AmqpEndpoint,
        *,
        username: str | None = None,
        password: str | None = None,
        exchange: str | None = None,
        allow_insecure: bool = False,
        ca_file: str | None = None,
        connect_timeout: float = 10.0,
        send_timeout: float = 30.0,
        heartbeat: float = 30.0,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
        declare_queues: bool = False,
        verify_queues: bool = False,
        graceful_timeout: float = 30.0,
        failed_release_delay: float = 1.0,
        container_id: str | None = None,
    ) -> None:
        if isinstance(url, AmqpEndpoint):  # parsed (and checked) by the caller already
            if username is not None or password is not None or exchange is not None:
                raise NhnError("give credentials and exchange in the AmqpEndpoint, not beside it")
            self._endpoint = url
        else:
            self._endpoint = parse_endpoint(
                url,
                username=username,
                password=password,
                exchange=exchange,
                allow_insecure=allow_insecure,
            )
        self._settings = WorkerSettings(
            endpoint=self._endpoint,
            container_id=container_id or f"kprgw-{uuid.uuid4()}",
            ca_file=ca_file,
            connect_timeout=connect_timeout,
            heartbeat=heartbeat,
            reconnect_initial=reconnect_initial,
            reconnect_max=reconnect_max,
            verify_queues=verify_queues,
        )
        self._send_timeout = send_timeout
        self._graceful_timeout = graceful_timeout
        self._failed_release_delay = failed_release_delay
        self._local_queues = (
            LocalQueues(self._endpoint, ca_file=ca_file) if declare_queues else None
        )
        self._subscriptions: dict[int, _Subscription] = {}
        self._ids = itertools.count(1)
        self._worker: ProtonWorker | None = None
        self._bridge: _Bridge | None = None
        self._connected = asyncio.Event()
        self._starting: asyncio.Future[str | None] | None = None
        self._problem: str | None = None
        self._receiving = False
        self._sending = False
        self._handlers: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._sends: set[asyncio.Future[NhnSendError | None]] = set()

    @property
    def exchange(self) -> str:
        return self._endpoint.exchange

    @property
    def container_id(self) -> str:
        """The AMQP container-id this transport opens its connection with."""
        return self._settings.container_id

    # --- NhnTransport ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._worker is not None:
            return
        loop = asyncio.get_running_loop()
        if self._local_queues is not None:
            await self._local_queues.ensure(sub.queue for sub in self._subscriptions.values())
        self._bridge = _Bridge(loop, self)
        self._connected.clear()
        self._problem = None
        worker = ProtonWorker(self._settings, self._bridge)
        self._worker = worker
        for sub in self._subscriptions.values():
            worker.call(partial(worker.subscribe, sub.id, sub.queue, sub.credit))
        self._receiving = self._sending = True
        self._starting = loop.create_future()
        worker.start()
        # Until connected, within connect_timeout; a refused login is not worth retrying here.
        try:
            async with asyncio.timeout(self._settings.connect_timeout):
                refused = await self._starting
        except TimeoutError:
            refused = None
            problem = f"within {self._settings.connect_timeout:g}s ({self._problem or 'no answer'})"
        else:
            problem = f"({refused})"
        finally:
            self._starting = None
        if refused is not None or not self._connected.is_set():
            await self._shut_down(worker)
            raise NhnError(f"could not connect to {self._endpoint.where} {problem}")

    async def stop(self) -> None:
        worker = self._worker
        if worker is None:
            return
        # 1. no new deliveries; handlers in flight finish and may still send
        self._receiving = False
        with contextlib.suppress(NhnError):  # the worker is gone already
            worker.call(worker.stop_receiving)
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        late = await self._drain(self._handlers)
        if late:
            _log.warning(
                "%d handlers still running after %gs; cut off", len(late), self._graceful_timeout
            )
            for task in late:
                task.cancel()
            await asyncio.wait(late)
        # 2. no new sends; sends in flight get their settlement (the rest fail on close)
        self._sending = False
        await self._drain(self._sends)
        await self._shut_down(worker)

    async def send(self, message: NhnMessage) -> None:
        worker, bridge = self._worker, self._bridge
        if worker is None or bridge is None or not self._sending:
            raise NhnSendError(f"message {message.message_id}: the AMQP transport is not running")
        if not message.to:
            raise NhnSendError(f"message {message.message_id} has no destination queue")
        if self._local_queues is not None:
            try:
                await self._local_queues.ensure([message.to])
            except NhnError as exc:
                raise NhnSendError(f"message {message.message_id}: {exc}") from exc
        future: asyncio.Future[NhnSendError | None] = asyncio.get_running_loop().create_future()
        outgoing = OutgoingSend(message, bridge.resolver(future))
        self._sends.add(future)
        try:
            worker.call(partial(worker.submit, outgoing))
            async with asyncio.timeout(self._send_timeout):
                error = await asyncio.shield(future)
        except NhnError as exc:  # the worker closed under us
            raise NhnSendError(f"message {message.message_id}: {exc}") from exc
        except TimeoutError:
            outgoing.abandoned = True
            raise NhnSendError(
                f"message {message.message_id} to {message.to}: no settlement from the broker "
                f"within {self._send_timeout:g}s"
            ) from None
        except BaseException:
            outgoing.abandoned = True
            raise
        finally:
            self._sends.discard(future)
        if error is not None:
            raise error

    def subscribe(self, queue: str, handler: NhnHandler, *, credit: int = 10) -> None:
        if self._worker is not None and not self._receiving:
            raise NhnError(f"cannot subscribe to {queue}: the transport is stopping")
        sub = _Subscription(next(self._ids), queue, handler, max(1, credit))
        self._subscriptions[sub.id] = sub
        if self._worker is not None:
            self._spawn(self._background, self._attach(sub))

    async def ping(self) -> bool:
        return self._worker is not None and self._worker.connected

    # --- called through the bridge, on the event loop ---------------------------------------

    def _connection_changed(
        self, connected: bool, problem: str | None, login_refused: bool = False
    ) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
            self._problem = problem or self._problem
        starting = self._starting
        if starting is not None and not starting.done() and (connected or login_refused):
            starting.set_result(None if connected else problem)

    def _delivered(self, subscription: int, key: int, message: NhnMessage) -> None:
        sub = self._subscriptions.get(subscription)
        queue = sub.queue if sub is not None else "?"
        delivery = AmqpDelivery(self, key, queue, message)
        if sub is None or not self._receiving:
            self._spawn(self._handlers, delivery.release())
            return
        self._spawn(self._handlers, self._handle(sub, delivery))

    # --- internals --------------------------------------------------------------------------

    async def _handle(self, sub: _Subscription, delivery: AmqpDelivery) -> None:
        message_id = delivery.message.message_id
        try:
            await sub.handler(delivery)
        except Exception:
            _log.exception("handler on %s failed on message %s; redelivered", sub.queue, message_id)
            if not delivery.settled:
                await asyncio.sleep(self._failed_release_delay)
                await self._settle_quietly(delivery)
            return
        if not delivery.settled:
            _log.error(
                "handler on %s left message %s unsettled; redelivered", sub.queue, message_id
            )
            await self._settle_quietly(delivery)

    async def _settle_quietly(self, delivery: AmqpDelivery) -> None:
        try:
            await delivery.release()
        except NhnError as exc:
            _log.warning("%s", exc)

    async def _settle(self, key: int, settlement: Settlement, reason: str) -> bool:
        worker, bridge = self._worker, self._bridge
        if worker is None or bridge is None:
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        resolve = bridge.resolver(future)

        def settle_there() -> None:
            resolve(worker.settle(key, settlement, reason))

        try:
            worker.call(settle_there)
        except NhnError:
            return False
        return await future

    async def _attach(self, sub: _Subscription) -> None:
        if self._local_queues is not None:
            await self._local_queues.ensure([sub.queue])
        worker = self._worker
        if worker is not None:
            worker.call(partial(worker.subscribe, sub.id, sub.queue, sub.credit))

    def _spawn(self, tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _drain(self, pending: set[_F]) -> set[_F]:
        """Wait until ``pending`` (which may still grow) is empty; what is left at the deadline."""
        deadline = asyncio.get_running_loop().time() + self._graceful_timeout
        while pending:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return set(pending)
            await asyncio.wait(set(pending), timeout=left)
        return set()

    async def _shut_down(self, worker: ProtonWorker) -> None:
        with contextlib.suppress(NhnError):  # closed already
            worker.call(worker.close)
        joined = await asyncio.to_thread(worker.join, self._settings.close_timeout + 5)
        if not joined:
            _log.error("AMQP worker for %s did not stop", self._endpoint.where)
        self._worker = None
        self._bridge = None
        self._receiving = self._sending = False
        self._connected.clear()
