"""The simulator: plays FHI's KPR receiver on an NHN transport.

For each message on a receiver queue: find the sender by ``fromHerId`` (unknown: reject, as
there is nobody to tell), draw the fault, open and check the message (``examine``), and
answer with a sealed AppRec on the message's reply-to queue, or with a transport error on
the sender's error queue. The message is accepted only after the answer was sent, so a
crash in between gives a duplicate answer, never a lost one.

Usable in-process (the embedded mode) and as its own process (``__main__``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from kpr_gateway.messages.apprec import AppRecVersion
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.nhn import NhnDelivery, NhnMessage, NhnTransport
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.simulator import codes
from kpr_gateway.simulator.answers import apprec_message, receipt, transport_error
from kpr_gateway.simulator.conditions import INTERNAL_ERROR, INVALID_CERTIFICATE
from kpr_gateway.simulator.credentials import ReceiverCredentials
from kpr_gateway.simulator.errors import SimulatorError
from kpr_gateway.simulator.examine import Refusal, examine, open_message
from kpr_gateway.simulator.faults import Fault, FaultDice, Faults
from kpr_gateway.simulator.parties import KnownSender, senders_by_her_id
from kpr_gateway.simulator.receivers import DEFAULT_RECEIVER_QUEUES

SERVICE_NAME = "simulator"
SIMULATED_TRANSPORT_ERROR = "simulated transport error (fault injection)"
SIMULATED_REJECTION = "simulated rejection (fault injection)"

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("kpr_gateway.simulator")
_SHOWN_CHARS = 40

Unanswered = Literal["unknown_sender", "no_answer", "no_ack_requested"]


@dataclass(frozen=True)
class _Outcome:
    answer: NhnMessage | None
    msg_id: str | None = None
    status: int | None = None
    condition: str | None = None


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
            " (unknown_sender, no_answer, no_ack_requested).",
            ("reason",),
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
    ) -> None:
        if not queues:
            raise SimulatorError("the simulator needs at least one receiver queue")
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

    @property
    def queues(self) -> tuple[str, ...]:
        return self._queues

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
        """Stop receiving; answers in flight (and their delays) finish first."""
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
            if fault is Fault.NO_ANSWER:
                _log.info(
                    "message %s from %s: no answer (fault)", message.message_id, sender.her_id
                )
                self._unanswered(span, "no_answer")
                await delivery.accept()
                return
            if fault is Fault.TRANSPORT_ERROR:
                outcome = self._refuse(
                    message,
                    sender,
                    Refusal(self._faults.transport_error_condition, SIMULATED_TRANSPORT_ERROR),
                )
            else:
                # CMS and schema work is CPU-bound: off the event loop.
                outcome = await asyncio.to_thread(
                    self._process, message, queue, sender, fault is Fault.REJECT
                )
            if outcome.answer is not None:
                if self._faults.delay_seconds > 0:
                    await asyncio.sleep(self._faults.delay_seconds)
                await self._transport.send(outcome.answer)
            await delivery.accept()
            self._record(span, message, sender, outcome)

    def _process(
        self, message: NhnMessage, queue: str, sender: KnownSender, simulate_rejection: bool
    ) -> _Outcome:
        opened = open_message(message.body, self._credentials, sender)
        if isinstance(opened, Refusal):
            return self._refuse(message, sender, opened)
        examined = examine(opened, message, self._schemas)
        if isinstance(examined, Refusal):
            return self._refuse(message, sender, examined)
        head = examined.head
        if not head.ack_requested:
            return _Outcome(None, msg_id=head.msg_id)
        errors = list(examined.errors)
        if simulate_rejection:
            errors.append(codes.error(codes.OTHER_ERROR, SIMULATED_REJECTION))
        try:
            apprec = receipt(head, errors, version=self._version)
            answer = apprec_message(
                apprec,
                original=message,
                received_on=queue,
                sender=sender,
                credentials=self._credentials,
                ttl_ms=self._ttl_ms,
            )
        except MessagesError as exc:
            refusal = Refusal(INTERNAL_ERROR, f"no AppRec can be built for this message: {exc}")
            return self._refuse(message, sender, refusal)
        except SecurityError as exc:
            refusal = Refusal(INVALID_CERTIFICATE, f"the AppRec cannot be sealed: {exc}")
            return self._refuse(message, sender, refusal)
        return _Outcome(answer, msg_id=head.msg_id, status=int(apprec.status.code))

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
