"""The proton half of AmqpNhnTransport: one thread, one Container, one connection at a time.

Everything in ``ProtonWorker`` runs on its own thread, because proton objects are not
thread-safe. Other threads reach it only through ``call(work)``, which queues ``work`` and
wakes the container through an ``EventInjector`` (one wake-up byte at a time, so a burst of
calls can never fill the pipe and block the caller). The asyncio side hears back through
``WorkerEvents``, whose methods hand over to the event loop with ``call_soon_threadsafe``; no
proton object ever leaves this thread.

Links: one session per link, because RabbitMQ reports a missing exchange or queue by ending
the session, which would take every other link of a shared session with it. Senders are
per destination queue and made on first use; receivers are re-attached after every reconnect.
A lost connection fails the sends the broker had not settled yet (it may or may not have
taken them) and keeps the sends never written, to go out after the reconnect.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from proton import (
    SASL,
    Condition,
    Connection,
    Delivery,
    Endpoint,
    Event,
    Handler,
    Link,
    Message,
    Receiver,
    Sender,
    Session,
    SSLDomain,
)
from proton.reactor import ApplicationEvent, Container, EventInjector

from kpr_gateway.nhn.amqp_contract import OutgoingSend, Settlement, WorkerEvents, WorkerSettings
from kpr_gateway.nhn.amqp_mapping import from_amqp, receive_address, send_address, to_amqp
from kpr_gateway.nhn.errors import NhnError, NhnSendError

_log = logging.getLogger(__name__)

REJECT_CONDITION = "amqp:rejected"
_CALLS_EVENT = "kprgw_calls"
_NOT_FOUND = "amqp:not-found"
_E = TypeVar("_E", Event, ApplicationEvent)


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


@dataclass(eq=False, slots=True)
class _SendLink:
    queue: str
    waiting: deque[OutgoingSend] = field(default_factory=deque)
    unsettled: dict[Delivery, OutgoingSend] = field(default_factory=dict)
    session: Session | None = None
    link: Sender | None = None
    ready: bool = False


@dataclass(eq=False, slots=True)
class _Probe:
    """A zero-credit receiver attached only to learn whether a queue exists."""

    target: _SendLink
    session: Session
    link: Receiver


@dataclass(eq=False, slots=True)
class _ReceiveLink:
    subscription: int
    queue: str
    credit: int
    session: Session
    link: Receiver


_Owner = _SendLink | _Probe | _ReceiveLink


def _guarded(
    method: Callable[[ProtonWorker, _E], None],
) -> Callable[[ProtonWorker, _E], None]:
    """An exception escaping a proton handler would end the container's run(); log it instead."""

    def run(self: ProtonWorker, event: _E) -> None:
        try:
            method(self, event)
        except Exception:
            _log.exception("AMQP worker for %s: %s failed", self.where, method.__name__)

    return functools.update_wrapper(run, method)


def _condition_text(condition: Condition | None) -> str | None:
    if condition is None:
        return None
    name = str(condition.name or "")
    return f"{name}: {condition.description}" if condition.description else name


class _Timer(Handler):
    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__()
        self._action = action

    def on_timer_task(self, event: Event) -> None:
        try:
            self._action()
        except Exception:
            _log.exception("AMQP timer task failed")


class ProtonWorker(Handler):
    def __init__(self, settings: WorkerSettings, events: WorkerEvents) -> None:
        super().__init__()
        self._settings = settings
        self._events = events
        self.where = settings.endpoint.where
        self.connected = False  # read from other threads; a bool is read atomically
        # Calls from other threads.
        self._lock = threading.Lock()
        self._calls: deque[Callable[[], None]] = deque()
        self._wakeup_pending = False
        self._injector_closed = False
        self._injector = EventInjector()
        self._container = Container(self)
        self._container.container_id = settings.container_id
        self._container.selectable(self._injector)
        self._thread = threading.Thread(
            target=self._run, name=f"nhn-amqp-{self.where}", daemon=True
        )
        # Proton-thread state.
        self._connection: Connection | None = None
        self._opened = False
        self._closing = False
        self._receiving = True
        self._problem: str | None = None
        self._login_refused = False
        self._backoff = settings.reconnect_initial
        self._connect_timer: _Cancellable | None = None
        self._reconnect_timer: _Cancellable | None = None
        self._close_timer: _Cancellable | None = None
        self._reattach_timers: dict[int, _Cancellable] = {}
        self._reattach_delays: dict[int, float] = {}
        self._waiting: deque[OutgoingSend] = deque()
        self._senders: dict[str, _SendLink] = {}
        self._receivers: dict[int, _ReceiveLink] = {}
        self._subscriptions: dict[int, tuple[str, int]] = {}
        self._owners: dict[Link | Session, _Owner] = {}
        self._inbound: dict[int, tuple[_ReceiveLink, Delivery]] = {}
        self._keys = itertools.count(1)
        self._verified: set[str] = set()

    # --- any thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        for descriptor in self._injector.pipe:  # EventInjector never closes its pipe
            os.close(descriptor)
        return True

    def call(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the proton thread, soon."""
        with self._lock:
            if self._injector_closed:
                raise NhnError(f"the AMQP connection to {self.where} is closed")
            self._calls.append(work)
            if self._wakeup_pending:
                return
            self._wakeup_pending = True
            self._injector.trigger(ApplicationEvent(_CALLS_EVENT))

    # --- commands (run on the proton thread through call) --------------------------------

    def submit(self, send: OutgoingSend) -> None:
        if send.abandoned:
            return
        if self._closing:
            send.finish(NhnSendError(f"message {send.message.message_id}: transport stopped"))
        elif not self._opened:
            self._waiting.append(send)
        else:
            link = self._send_link(send.message.to)
            link.waiting.append(send)
            self._pump(link)

    def subscribe(self, subscription: int, queue: str, credit: int) -> None:
        self._subscriptions[subscription] = (queue, credit)
        if self._opened:
            self._attach_receiver(subscription)

    def settle(self, key: int, settlement: Settlement, reason: str) -> bool:
        """Settle a received message; False when its link is gone (the broker has it back)."""
        entry = self._inbound.pop(key, None)
        if entry is None:
            return False
        receiver, delivery = entry
        if settlement is Settlement.REJECT:
            delivery.local.condition = Condition(REJECT_CONDITION, reason)
            delivery.update(Delivery.REJECTED)
        elif settlement is Settlement.RELEASE:
            # Released, not modified: RabbitMQ 3.x's AMQP 1.0 plugin detaches the link on a
            # modified outcome ("Unrecognised state"), and 4.x drops one without delivery-failed.
            delivery.update(Delivery.RELEASED)
        else:
            delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        if self._receiving and self._receivers.get(receiver.subscription) is receiver:
            receiver.link.flow(1)
        return True

    def stop_receiving(self) -> None:
        """No more deliveries to handlers: what still arrives is released at once."""
        self._receiving = False

    def close(self) -> None:
        self._closing = True
        stopped = "transport stopped before the broker settled it"
        for send in self._all_sends():
            send.finish(NhnSendError(f"message {send.message.message_id}: {stopped}"))
        self._waiting.clear()
        self._cancel_timers()
        with self._lock:
            self._injector_closed = True
        self._injector.close()
        if self._connection is None:
            self._container.stop()
        else:
            self._connection.close()
            self._close_timer = self._container.schedule(
                self._settings.close_timeout, _Timer(self._force_close)
            )

    # --- proton events --------------------------------------------------------------------

    @_guarded
    def on_kprgw_calls(self, event: ApplicationEvent) -> None:
        with self._lock:
            self._wakeup_pending = False
            calls = list(self._calls)
            self._calls.clear()
        for work in calls:
            try:
                work()
            except Exception:
                _log.exception("AMQP worker for %s: a call failed", self.where)

    @_guarded
    def on_reactor_init(self, event: Event) -> None:
        self._connect()

    @_guarded
    def on_connection_remote_open(self, event: Event) -> None:
        if event.connection != self._connection:
            return
        self._opened = True
        self.connected = True
        self._problem = None
        self._backoff = self._settings.reconnect_initial
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        _log.info("AMQP connection to %s open", self.where)
        self._events.connection_changed(True, None)
        for subscription in self._subscriptions:
            self._attach_receiver(subscription)
        waiting, self._waiting = self._waiting, deque()
        for send in waiting:
            self.submit(send)

    @_guarded
    def on_connection_remote_close(self, event: Event) -> None:
        connection = event.connection
        if connection is not None:
            self._problem = _condition_text(connection.remote_condition) or "closed by the broker"
            connection.close()

    @_guarded
    def on_transport_error(self, event: Event) -> None:
        transport = event.transport
        condition = transport.condition if transport is not None else None
        self._problem = _condition_text(condition) or "transport error"
        if transport is not None and not self._opened:
            sasl = transport.sasl()
            if sasl.outcome not in (None, SASL.OK):
                self._problem = f"SASL login refused (outcome {sasl.outcome})"
                self._login_refused = True
            elif sasl.outcome is None and sasl.mech:
                # RabbitMQ answers a wrong password by closing the socket, with no outcome.
                self._problem += " during SASL login (wrong username or password?)"
                self._login_refused = True

    @_guarded
    def on_transport_closed(self, event: Event) -> None:
        if event.connection is not None and event.connection == self._connection:
            self._lost()

    @_guarded
    def on_session_remote_close(self, event: Event) -> None:
        session = event.session
        if session is None:
            return
        owner = self._owners.get(session)
        session.close()
        if owner is not None:
            self._endpoint_closed(owner, session.remote_condition)

    @_guarded
    def on_link_remote_open(self, event: Event) -> None:
        link = event.link
        owner = self._owners.get(link) if link is not None else None
        if link is None or owner is None:
            return
        if isinstance(owner, _ReceiveLink):
            self._reattach_delays.pop(owner.subscription, None)
        elif isinstance(owner, _SendLink):
            owner.ready = True
            self._pump(owner)
        elif isinstance(owner, _Probe):
            self._forget(owner)
            if link.remote_source is not None and link.remote_source.address:
                self._verified.add(owner.target.queue)
                self._attach_sender(owner.target)
            else:  # older RabbitMQ answers a missing queue with an empty source, then detaches
                self._queue_missing(owner.target, None)

    @_guarded
    def on_link_remote_close(self, event: Event) -> None:
        link = event.link
        if link is None:
            return
        owner = self._owners.get(link)
        link.close()
        if owner is not None:
            self._endpoint_closed(owner, link.remote_condition)

    @_guarded
    def on_link_flow(self, event: Event) -> None:
        owner = self._owners.get(event.link) if event.link is not None else None
        if isinstance(owner, _SendLink):
            self._pump(owner)

    @_guarded
    def on_delivery(self, event: Event) -> None:
        delivery = event.delivery
        if delivery is None:
            return
        owner = self._owners.get(delivery.link)
        if isinstance(owner, _SendLink):
            self._outcome(owner, delivery)
        elif isinstance(owner, _ReceiveLink):
            self._incoming(owner, delivery)

    # --- connection -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._container.run()
        except Exception:
            _log.exception("AMQP worker for %s stopped on an error", self.where)
            if not self._closing:
                self._events.connection_changed(False, "AMQP worker stopped on an error")
        finally:
            self.connected = False

    def _connect(self) -> None:
        self._reconnect_timer = None
        self._login_refused = False
        settings = self._settings
        endpoint = settings.endpoint
        try:
            # proton resolves inside its IO handler, where a failure would end the container.
            socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            self._problem = f"cannot resolve {endpoint.host}: {exc.strerror or exc}"
            self._retry_later(was_open=False)
            return
        ssl_domain = None
        if endpoint.tls:
            ssl_domain = SSLDomain(SSLDomain.MODE_CLIENT)
            if settings.ca_file:
                ssl_domain.set_trusted_ca_db(settings.ca_file)
            ssl_domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        self._connection = self._container.connect(
            url=endpoint.url,
            reconnect=False,  # ours, below: links are re-made and unsettled sends failed
            heartbeat=settings.heartbeat,
            ssl_domain=ssl_domain,
            user=endpoint.username,
            password=endpoint.password,
            allowed_mechs="PLAIN",
            allow_insecure_mechs=not endpoint.tls,
            sasl_enabled=True,
        )
        connection = self._connection
        self._connect_timer = self._container.schedule(
            settings.connect_timeout, _Timer(lambda: self._connect_timed_out(connection))
        )

    def _connect_timed_out(self, connection: Connection) -> None:
        if connection == self._connection and not self._opened:
            self._connect_timer = None
            self._problem = f"no AMQP open within {self._settings.connect_timeout:g}s"
            self._drop_transport(connection)

    def _force_close(self) -> None:
        self._close_timer = None
        if self._connection is not None:
            self._drop_transport(self._connection)

    @staticmethod
    def _drop_transport(connection: Connection) -> None:
        transport = connection.transport
        if transport is not None:
            transport.close_tail()
            transport.close_head()

    def _lost(self) -> None:
        """The connection is gone: fail what the broker may hold, keep what it never saw."""
        was_open = self._opened
        self._opened = False
        self.connected = False
        self._connection = None
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        problem = self._problem or "connection closed"
        for link in self._senders.values():
            for send in link.unsettled.values():
                send.finish(
                    NhnSendError(
                        f"message {send.message.message_id} to {link.queue}: connection lost "
                        f"before the broker settled it ({problem})"
                    )
                )
            self._waiting.extend(link.waiting)
        self._senders.clear()
        self._receivers.clear()
        self._owners.clear()
        self._inbound.clear()
        self._cancel_reattach()
        if self._closing:
            if self._close_timer is not None:
                self._close_timer.cancel()
                self._close_timer = None
            self._events.connection_changed(False, None)
            self._container.stop()  # else run() sits out one more select timeout (~3 s)
            return
        self._retry_later(was_open)

    def _retry_later(self, was_open: bool) -> None:
        problem = self._problem or "connection closed"
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self._settings.reconnect_max)
        if was_open:
            _log.warning("AMQP connection to %s lost (%s); reconnecting", self.where, problem)
        else:
            _log.warning(
                "AMQP connection to %s failed (%s); retry in %gs", self.where, problem, delay
            )
        self._events.connection_changed(False, problem, login_refused=self._login_refused)
        self._reconnect_timer = self._container.schedule(delay, _Timer(self._reconnect))

    def _reconnect(self) -> None:
        if not self._closing:
            self._connect()

    def _cancel_timers(self) -> None:
        for timer in (self._connect_timer, self._reconnect_timer):
            if timer is not None:
                timer.cancel()
        self._connect_timer = self._reconnect_timer = None
        self._cancel_reattach()

    def _cancel_reattach(self) -> None:
        for timer in self._reattach_timers.values():
            timer.cancel()
        self._reattach_timers.clear()

    # --- sending ----------------------------------------------------------------------------

    def _send_link(self, queue: str) -> _SendLink:
        link = self._senders.get(queue)
        if link is None:
            link = self._senders[queue] = _SendLink(queue)
            if self._settings.verify_queues and queue not in self._verified:
                self._probe(link)
            else:
                self._attach_sender(link)
        return link

    def _new_session(self) -> Session:
        assert self._connection is not None  # noqa: S101 - only called while open
        session = self._connection.session()
        session.open()
        return session

    def _attach_sender(self, target: _SendLink) -> None:
        session = self._new_session()
        sender = session.sender(f"kprgw-send-{target.queue}-{uuid.uuid4()}")
        sender.target.address = send_address(self._settings.endpoint.exchange, target.queue)
        sender.snd_settle_mode = Link.SND_UNSETTLED
        sender.rcv_settle_mode = Link.RCV_FIRST
        target.session, target.link = session, sender
        self._owners[session] = self._owners[sender] = target
        sender.open()

    def _probe(self, target: _SendLink) -> None:
        session = self._new_session()
        receiver = session.receiver(f"kprgw-probe-{target.queue}-{uuid.uuid4()}")
        receiver.source.address = receive_address(target.queue)
        probe = _Probe(target, session, receiver)
        self._owners[session] = self._owners[receiver] = probe
        receiver.open()  # no credit: nothing is ever delivered to it

    def _pump(self, target: _SendLink) -> None:
        sender = target.link
        if sender is None or not target.ready:
            return
        while target.waiting and sender.credit > 0:
            send = target.waiting.popleft()
            if send.abandoned:
                continue
            try:
                amqp = to_amqp(send.message)
            except Exception as exc:
                send.finish(NhnSendError(f"message {send.message.message_id}: cannot encode"))
                _log.warning("message %s not encodable: %s", send.message.message_id, type(exc))
                continue
            target.unsettled[amqp.send(sender)] = send

    def _outcome(self, target: _SendLink, delivery: Delivery) -> None:
        state = delivery.remote_state
        terminal = state in (
            Delivery.ACCEPTED,
            Delivery.REJECTED,
            Delivery.RELEASED,
            Delivery.MODIFIED,
        )
        if not terminal and not delivery.settled:
            return
        send = target.unsettled.pop(delivery, None)
        delivery.settle()
        if send is None:
            return
        if state == Delivery.ACCEPTED:
            send.finish(None)
            return
        what = f"message {send.message.message_id} to {target.queue}"
        if state == Delivery.REJECTED:
            detail = _condition_text(delivery.remote.condition) or "no reason given"
            send.finish(NhnSendError(f"{what}: rejected by the broker ({detail})"))
        elif state in (Delivery.RELEASED, Delivery.MODIFIED):
            send.finish(NhnSendError(f"{what}: released by the broker (not taken)"))
        else:
            send.finish(NhnSendError(f"{what}: settled by the broker without an outcome"))

    # --- receiving --------------------------------------------------------------------------

    def _attach_receiver(self, subscription: int) -> None:
        if subscription in self._receivers or subscription not in self._subscriptions:
            return
        queue, credit = self._subscriptions[subscription]
        session = self._new_session()
        receiver = session.receiver(f"kprgw-recv-{queue}-{uuid.uuid4()}")
        receiver.source.address = receive_address(queue)
        receiver.snd_settle_mode = Link.SND_UNSETTLED  # the broker keeps it until we settle
        receiver.rcv_settle_mode = Link.RCV_FIRST
        state = _ReceiveLink(subscription, queue, credit, session, receiver)
        self._receivers[subscription] = state
        self._owners[session] = self._owners[receiver] = state
        receiver.open()
        receiver.flow(credit)

    def _incoming(self, receiver: _ReceiveLink, delivery: Delivery) -> None:
        if delivery.aborted:
            delivery.settle()
            receiver.link.flow(1)
            return
        if not delivery.readable or delivery.partial:
            return
        data = receiver.link.recv(delivery.pending) or b""
        receiver.link.advance()
        if not self._receiving:
            delivery.update(Delivery.RELEASED)
            delivery.settle()
            return
        try:
            amqp = Message()
            amqp.decode(data)
            message = from_amqp(amqp)
        except Exception as exc:
            _log.error("undecodable message on %s rejected: %s", receiver.queue, type(exc).__name__)
            delivery.local.condition = Condition("amqp:decode-error", "not an AMQP 1.0 message")
            delivery.update(Delivery.REJECTED)
            delivery.settle()
            receiver.link.flow(1)
            return
        key = next(self._keys)
        self._inbound[key] = (receiver, delivery)
        self._events.delivered(receiver.subscription, key, message)

    # --- endpoints closed by the broker -----------------------------------------------------

    def _endpoint_closed(self, owner: _Owner, condition: Condition | None) -> None:
        self._forget(owner)
        problem = _condition_text(condition)
        if isinstance(owner, _Probe):
            if condition is not None and condition.name == _NOT_FOUND:
                self._queue_missing(owner.target, problem)
            elif self._senders.get(owner.target.queue) is owner.target:
                # Not allowed to look (NHN does not let us read other parties' queues): send.
                self._attach_sender(owner.target)
        elif isinstance(owner, _SendLink):
            self._fail_link(owner, f"the broker closed the link ({problem or 'no reason'})")
        else:
            _log.warning(
                "AMQP receiver on %s closed by the broker (%s); re-attaching",
                owner.queue,
                problem or "no reason",
            )
            subscription = owner.subscription
            self._receivers.pop(subscription, None)
            for key in [k for k, (r, _) in self._inbound.items() if r is owner]:
                del self._inbound[key]
            delay = self._reattach_delays.get(subscription, self._settings.reconnect_initial)
            self._reattach_delays[subscription] = min(delay * 2, self._settings.reconnect_max)
            self._reattach_timers[subscription] = self._container.schedule(
                delay, _Timer(lambda: self._reattach(subscription))
            )

    def _reattach(self, subscription: int) -> None:
        self._reattach_timers.pop(subscription, None)
        if self._opened and not self._closing:
            self._attach_receiver(subscription)

    def _queue_missing(self, target: _SendLink, problem: str | None) -> None:
        self._fail_link(target, f"queue does not exist ({problem or 'not found'})")

    def _fail_link(self, target: _SendLink, reason: str) -> None:
        if self._senders.get(target.queue) is target:
            del self._senders[target.queue]
        self._forget(target)
        for send in [*target.unsettled.values(), *target.waiting]:
            send.finish(
                NhnSendError(f"message {send.message.message_id} to {target.queue}: {reason}")
            )
        target.unsettled.clear()
        target.waiting.clear()

    def _forget(self, owner: _Owner) -> None:
        for endpoint in (owner.session, owner.link):
            if endpoint is None:
                continue
            self._owners.pop(endpoint, None)
            if endpoint.state & Endpoint.LOCAL_ACTIVE:
                endpoint.close()

    def _all_sends(self) -> list[OutgoingSend]:
        sends = list(self._waiting)
        for link in self._senders.values():
            sends.extend(link.waiting)
            sends.extend(link.unsettled.values())
        return sends
