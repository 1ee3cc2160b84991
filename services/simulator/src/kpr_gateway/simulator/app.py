"""The simulator: plays FHI's KPR receiver on an NHN transport.

For each message on a receiver queue: find the sender by ``fromHerId`` (unknown: reject, as
there is nobody to tell), draw the fault, open and check the message (``examine``), enter
its notifications in the sender's chain (``chain``) and answer with a sealed AppRec on the
message's reply-to queue, or with a transport error on the sender's error queue. The message
is accepted only after the answer was sent, so a crash in between gives a duplicate answer,
never a lost one; the exception is a message that starts after a gap, whose answer is held
(``held``) and which is accepted meanwhile.

Usable in-process (the embedded mode) and as its own process (``__main__``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from kpr_gateway.messages.apprec import AppRec, AppRecErrorCode, AppRecVersion
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.nhn import NhnDelivery, NhnError, NhnMessage, NhnTransport
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.simulator import codes
from kpr_gateway.simulator.answers import apprec_message, receipt, transport_error, with_verdict
from kpr_gateway.simulator.chain import ChainBook, ChainKey
from kpr_gateway.simulator.conditions import INTERNAL_ERROR, INVALID_CERTIFICATE
from kpr_gateway.simulator.credentials import ReceiverCredentials
from kpr_gateway.simulator.errors import SimulatorError
from kpr_gateway.simulator.examine import ChainPart, Refusal, examine, open_message
from kpr_gateway.simulator.faults import Fault, FaultDice, Faults
from kpr_gateway.simulator.held import DEFAULT_GAP_GRACE_SECONDS, HeldAnswers
from kpr_gateway.simulator.parties import KnownSender, senders_by_her_id
from kpr_gateway.simulator.received import ReceivedLog
from kpr_gateway.simulator.receivers import DEFAULT_RECEIVER_QUEUES, RECEIVER_OF_QUEUE

SERVICE_NAME = "simulator"
SIMULATED_TRANSPORT_ERROR = "simulated transport error (fault injection)"
SIMULATED_REJECTION = "simulated rejection (fault injection)"
DEFAULT_READERS = 2

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("kpr_gateway.simulator")
_SHOWN_CHARS = 40
_CHAIN_REJECTIONS = {codes.CHAIN_GAP[0]: "gap", codes.CHAIN_BROKEN[0]: "fork"}

Unanswered = Literal["unknown_sender", "no_answer", "no_ack_requested", "send_failed"]


@dataclass(frozen=True)
class _Outcome:
    answer: NhnMessage | None
    msg_id: str | None = None
    status: int | None = None
    condition: str | None = None
    error_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Read:
    """A message opened and checked; its chain is still to be consulted. The MsgHead's
    tree is not kept: the receipt is prepared from it while it is at hand."""

    msg_id: str
    ack_requested: bool
    receipt: AppRec
    errors: tuple[AppRecErrorCode, ...]
    chain: ChainPart | None


@dataclass(frozen=True)
class _Pending:
    """An answer to give, with what it needs and no more (the body is left behind)."""

    message: NhnMessage
    queue: str
    sender: KnownSender
    msg_id: str
    receipt: AppRec
    errors: tuple[AppRecErrorCode, ...]

    @classmethod
    def of(
        cls,
        message: NhnMessage,
        queue: str,
        sender: KnownSender,
        read: _Read,
        errors: Sequence[AppRecErrorCode],
    ) -> _Pending:
        body_left_behind = dataclasses.replace(message, body=b"")
        return cls(body_left_behind, queue, sender, read.msg_id, read.receipt, tuple(errors))


class SimulatorMetrics:
    """``kprgw_simulator_*``: received, answered by status, transport errors, unanswered."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.registry = metrics.registry
        self.received = metrics.counter(
            "received", "Messages received, by receiver queue.", ("queue",)
        )
        self.answered = metrics.counter(
            "answered", "AppRecs sent, by status (1 OK, 2 rejected).", ("status",)
        )
        self.transport_errors = metrics.counter(
            "transport_errors", "Transport errors sent, by condition.", ("condition",)
        )
        self.unanswered = metrics.counter(
            "unanswered",
            "Messages settled without an answer, by reason"
            " (unknown_sender, no_answer, no_ack_requested, send_failed).",
            ("reason",),
        )
        self.chain_rejections = metrics.counter(
            "chain_rejections",
            "AppRecs rejecting a message for its place in the sender's chain, by kind (gap, fork).",
            ("kind",),
        )
        self.held = metrics.gauge(
            "held", "Answers held back until a gap in the sender's chain closes."
        )
        self.duplicates = metrics.counter(
            "duplicate_answers", "AppRecs sent a second time (the duplicate AppRec fault)."
        )


class Simulator:
    """FHI's KPR receiver on ``transport``.

    ``register()`` subscribes to the receiver queues; ``start()`` and ``stop()`` start and
    stop the transport when the simulator owns it (its own connection, the usual case).
    """

    def __init__(
        self,
        *,
        transport: NhnTransport,
        credentials: ReceiverCredentials,
        senders: Iterable[KnownSender],
        queues: Sequence[str] = DEFAULT_RECEIVER_QUEUES,
        schemas: SchemaSet | None = None,
        faults: Faults | None = None,
        apprec_version: AppRecVersion = "1.0",
        metrics: ServiceMetrics | None = None,
        credit: int = 10,
        answer_ttl_ms: int | None = None,
        owns_transport: bool = True,
        gap_grace_seconds: float = DEFAULT_GAP_GRACE_SECONDS,
        readers: int = DEFAULT_READERS,
        track_received: bool = False,
    ) -> None:
        if not queues:
            raise SimulatorError("the simulator needs at least one receiver queue")
        if readers < 1:
            raise SimulatorError("the simulator needs at least one reader")
        self._transport = transport
        self._credentials = credentials
        self._senders = senders_by_her_id(senders)
        self._queues = tuple(dict.fromkeys(queues))
        self._schemas = schemas
        self._faults = faults or Faults()
        self._dice = FaultDice(self._faults)
        self._version: AppRecVersion = apprec_version
        self.metrics = SimulatorMetrics(metrics or ServiceMetrics(SERVICE_NAME))
        self._credit = credit
        self._ttl_ms = answer_ttl_ms
        self._owns_transport = owns_transport
        self._registered = False
        # Reading is CPU-bound and holds a whole document in memory: more readers than
        # cores buy no speed, only memory (credit only bounds the messages waiting).
        self._readers = asyncio.Semaphore(readers)
        self._chains = ChainBook()
        self._held = HeldAnswers(self._chains, self._answer_held, grace_seconds=gap_grace_seconds)
        self.metrics.held.set_function(lambda: len(self._held))
        self.received = ReceivedLog() if track_received else None
        """What arrived (tests: ``GET /received``); None unless asked for."""

    @property
    def queues(self) -> tuple[str, ...]:
        return self._queues

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Draw from ``faults`` from the next message on (tests: ``PUT /faults``)."""
        self._faults = faults
        self._dice = FaultDice(faults)

    def register(self) -> None:
        if self._registered:
            raise SimulatorError("the simulator is already registered")
        for queue in self._queues:
            self._transport.subscribe(
                queue, functools.partial(self.handle, queue), credit=self._credit
            )
        self._registered = True

    async def start(self) -> None:
        if not self._registered:
            raise SimulatorError("register() the simulator before starting it")
        if self._owns_transport:
            await self._transport.start()
        _log.info(
            "simulator listening on %s for %d senders",
            ", ".join(self._queues),
            len(self._senders),
        )

    async def stop(self) -> None:
        """Give the held answers (a gap still open is a rejection), then stop receiving;
        answers in flight (and their delays) finish first."""
        await self._held.close()
        if self._owns_transport:
            await self._transport.stop()

    async def ping(self) -> bool:
        return await self._transport.ping()

    async def handle(self, queue: str, delivery: NhnDelivery) -> None:
        message = delivery.message
        self.metrics.received.labels(queue=queue).inc()
        with _tracer.start_as_current_span(
            "simulator receive",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.destination.name": queue,
                "messaging.message.id": message.message_id,
                "kprgw.nhn.from_her_id": message.from_her_id[:_SHOWN_CHARS],
            },
        ) as span:
            sender = self._senders.get(message.from_her_id)
            if sender is None:
                _log.warning(
                    "message %s on %s is from an unknown sender; rejected",
                    message.message_id,
                    queue,
                )
                self._unanswered(span, "unknown_sender")
                await delivery.reject(
                    f"unknown sender HER-id {message.from_her_id[:_SHOWN_CHARS]!r}"
                )
                return
            fault = self._dice.roll(sender.her_id)
            span.set_attribute("kprgw.simulator.fault", fault.value)
            outcome: _Outcome | None
            if fault is Fault.TRANSPORT_ERROR:
                refusal = Refusal(self._faults.transport_error_condition, SIMULATED_TRANSPORT_ERROR)
                outcome = self._refuse(message, sender, refusal)
            else:
                # CMS and schema work is CPU-bound: off the event loop. The message is read
                # even when no answer will be given: the register received it all the same.
                async with self._readers:
                    read = await asyncio.to_thread(self._read, queue, message, sender)
                self._note_received(read)
                if isinstance(read, _Read):
                    outcome = await self._judge(
                        span, read, queue=queue, message=message, sender=sender, fault=fault
                    )
                elif fault is Fault.NO_ANSWER:
                    outcome = None
                else:
                    outcome = read
            if fault is Fault.NO_ANSWER:
                _log.info(
                    "message %s from %s: no answer (fault)", message.message_id, sender.her_id
                )
                self._unanswered(span, "no_answer")
                await delivery.accept()
                return
            if outcome is not None:
                await self._send(outcome)
                if fault is Fault.DUPLICATE_APPREC and outcome.status is not None:
                    await self._send(outcome)
                    self.metrics.duplicates.inc()
                    _log.info("message %s: AppRec sent twice (fault)", message.message_id)
            await delivery.accept()
            if outcome is not None:
                self._record(span, message, sender, outcome)

    def _note_received(self, read: _Read | _Outcome) -> None:
        if self.received is None:
            return
        if isinstance(read, _Read):
            self.received.message(read.msg_id, read.chain.links if read.chain else None)
        else:
            self.received.unread()

    async def _judge(
        self,
        span: trace.Span,
        read: _Read,
        *,
        queue: str,
        message: NhnMessage,
        sender: KnownSender,
        fault: Fault,
    ) -> _Outcome | None:
        """Enter the message in its chain; the answer to send now, or None when there is
        none to send now (not asked for, a fault, or held until a gap closes)."""
        span.set_attribute("kprgw.msg_id", read.msg_id)
        errors = list(read.errors)
        after_gap: tuple[ChainKey, int] | None = None  # its chain and first seq
        if read.chain is not None:
            key = (sender.her_id, read.chain.municipality_number)
            verdict = self._chains.enter(key, read.chain.links)
            errors.extend(verdict.errors)
            if verdict.waits_for is not None:
                after_gap = (key, read.chain.links.first_seq)
            self._held.wake(key)
        if fault is Fault.NO_ANSWER:
            return None
        if not read.ack_requested:
            return _Outcome(None, msg_id=read.msg_id)
        if fault is Fault.REJECT:
            errors.append(codes.error(codes.OTHER_ERROR, SIMULATED_REJECTION))
        if after_gap is not None and not errors:
            key, first_seq = after_gap
            if self._held.is_open:
                self._held.hold(key, first_seq, _Pending.of(message, queue, sender, read, ()))
                span.set_attribute("kprgw.simulator.held_for_seq", first_seq - 1)
                _log.info(
                    "message %s (MsgId %s) from %s: answer held until seq %d arrives",
                    message.message_id,
                    read.msg_id,
                    sender.her_id,
                    first_seq - 1,
                )
                return None
            gap = self._held.gap(key, first_seq)  # stopping: an open gap is a rejection now
            errors.extend([gap] if gap is not None else [])
        pending = _Pending.of(message, queue, sender, read, errors)
        return await asyncio.to_thread(self._seal, pending)

    async def _answer_held(self, pending: _Pending, gap: AppRecErrorCode | None) -> None:
        """Give a held answer: as it would have been when the gap closed, else rejected."""
        if gap is not None:
            pending = dataclasses.replace(pending, errors=(*pending.errors, gap))
        message, sender = pending.message, pending.sender
        with _tracer.start_as_current_span(
            "simulator answer held",
            attributes={"messaging.message.id": message.message_id, "kprgw.msg_id": pending.msg_id},
        ) as span:
            outcome = await asyncio.to_thread(self._seal, pending)
            try:
                await self._send(outcome)
            except NhnError:
                # The message was accepted when its answer was held: nothing to retry with.
                _log.exception("held answer to message %s could not be sent", message.message_id)
                self._unanswered(span, "send_failed")
                return
            self._record(span, message, sender, outcome)

    async def _send(self, outcome: _Outcome) -> None:
        if outcome.answer is None:
            return
        if self._faults.delay_seconds > 0:
            await asyncio.sleep(self._faults.delay_seconds)
        await self._transport.send(outcome.answer)

    def _read(self, queue: str, message: NhnMessage, sender: KnownSender) -> _Read | _Outcome:
        opened = open_message(message.body, self._credentials, sender)
        if isinstance(opened, Refusal):
            return self._refuse(message, sender, opened)
        examined = examine(
            opened, message, self._schemas, sender, queue_owner=RECEIVER_OF_QUEUE.get(queue)
        )
        if isinstance(examined, Refusal):
            return self._refuse(message, sender, examined)
        head = examined.head
        try:
            prepared = receipt(head, (), version=self._version)
        except MessagesError as exc:
            refusal = Refusal(INTERNAL_ERROR, f"no AppRec can be built for this message: {exc}")
            return self._refuse(message, sender, refusal)
        return _Read(head.msg_id, head.ack_requested, prepared, examined.errors, examined.chain)

    def _seal(self, pending: _Pending) -> _Outcome:
        apprec = with_verdict(pending.receipt, pending.errors)
        try:
            answer = apprec_message(
                apprec,
                original=pending.message,
                received_on=pending.queue,
                sender=pending.sender,
                credentials=self._credentials,
                ttl_ms=self._ttl_ms,
            )
        except MessagesError as exc:
            refusal = Refusal(INTERNAL_ERROR, f"no AppRec can be built for this message: {exc}")
            return self._refuse(pending.message, pending.sender, refusal)
        except SecurityError as exc:
            refusal = Refusal(INVALID_CERTIFICATE, f"the AppRec cannot be sealed: {exc}")
            return self._refuse(pending.message, pending.sender, refusal)
        return _Outcome(
            answer,
            msg_id=pending.msg_id,
            status=int(apprec.status.code),
            error_codes=tuple(error.code for error in pending.errors),
        )

    @staticmethod
    def _refuse(message: NhnMessage, sender: KnownSender, refusal: Refusal) -> _Outcome:
        answer = transport_error(message, sender, refusal.condition, refusal.description)
        return _Outcome(answer, condition=refusal.condition)

    def _record(
        self, span: trace.Span, message: NhnMessage, sender: KnownSender, outcome: _Outcome
    ) -> None:
        if outcome.msg_id is not None:
            span.set_attribute("kprgw.msg_id", outcome.msg_id)
        if outcome.condition is not None:
            span.set_attribute("kprgw.simulator.transport_error", outcome.condition)
            self.metrics.transport_errors.labels(condition=outcome.condition).inc()
            _log.info(
                "message %s from %s: transport error %s",
                message.message_id,
                sender.her_id,
                outcome.condition,
            )
        elif outcome.status is not None:
            span.set_attribute("kprgw.simulator.apprec_status", outcome.status)
            self.metrics.answered.labels(status=str(outcome.status)).inc()
            kinds = {_CHAIN_REJECTIONS[c] for c in outcome.error_codes if c in _CHAIN_REJECTIONS}
            for kind in sorted(kinds):
                self.metrics.chain_rejections.labels(kind=kind).inc()
            _log.info(
                "message %s (MsgId %s) from %s: AppRec status %d",
                message.message_id,
                outcome.msg_id,
                sender.her_id,
                outcome.status,
            )
        else:
            _log.info(
                "message %s (MsgId %s) from %s: no answer requested (Ack N)",
                message.message_id,
                outcome.msg_id,
                sender.her_id,
            )
            self._unanswered(span, "no_ack_requested")

    def _unanswered(self, span: trace.Span, reason: Unanswered) -> None:
        span.set_attribute("kprgw.simulator.unanswered", reason)
        self.metrics.unanswered.labels(reason=reason).inc()
