"""receipts: takes what arrives on every tenant's NHN async and error queues, closes the sent
message in the ledger with its AppRec or transport error, and publishes a ``ReceiptNotice`` to
``receipts``.

Crash safety: an NHN message is accepted only after the ledger has the outcome and the notice
is confirmed, or after the message is parked on ``receipts.parked``. A crash in between leaves
it unsettled, NHN delivers it again, the ledger answers ``already closed`` with the same
receipt, and the notice is published again (consumers deduplicate on the message id, which is
the MsgId). When the ledger or the bus is down the message is released, never dropped, and
nothing is ever sent back on NHN (an error is never answered with an error).

The receiver's signing certificate (the expected signer of AppRecs) is resolved per tenant in
``start`` (``receiver_override``, else the Address Registry); NHN messages that arrive
meanwhile wait, and a tenant that cannot be resolved stops the start-up. When an AppRec's
signature fails against a certificate from the registry, the registry is asked once more
(its cache entry marked stale) before the message is parked, so a rotation of KPR's
certificate is picked up without a restart.

A message may have gone to another receiver than its tenant's own (an annual test submission
to KPR Validering: the ledger has its ``environment``). An AppRec whose signature fails against
the tenant's own receiver is tried against the other receivers the tenant may send to
(resolved when first needed), and once its message is known it must be signed by that
message's receiver; else it is parked (``wrong_signer``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from cryptography import x509
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from kpr_gateway.ledger import Ledger, LedgerError, MessageRecord, ReceiptMatch, ReceiptOutcome
from kpr_gateway.messages.apprec import AppRec
from kpr_gateway.nhn import NhnDelivery, NhnMessage, NhnTransport
from kpr_gateway.observability.metrics import HandlerOutcome, ServiceMetrics
from kpr_gateway.observability.tracing import current_trace_id, span_context_of
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import ReceiptError, ReceiptNotice
from kpr_gateway.pipeline.errors import PipelineError
from kpr_gateway.receipts.errors import (
    BusDownError,
    LateTransportError,
    LedgerDownError,
    NoTransportError,
    ReceiptParkedError,
    ReceiptsUnavailableError,
    RegistryDownError,
    ReplayedAppRecError,
    UnmatchedAppRecError,
    UnmatchedTransportError,
    UnopenableMessageError,
    WrongSignerError,
)
from kpr_gateway.receipts.overdue import BacklogWatch, OverdueSweep
from kpr_gateway.receipts.parking import parked_headers
from kpr_gateway.receipts.reading import (
    TenantKeys,
    apprec_addressing,
    apprec_outcome,
    open_apprec,
    read_error,
    same_receipt,
    sent_msg_id,
    transport_error_outcome,
)
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.registry import ReceiverDirectory, RegistryError, RegistryUnavailableError
from kpr_gateway.runtime import NotStartedError, ServiceContext, StartGate, WorkSource
from kpr_gateway.runtime.crash_points import crash_point
from kpr_gateway.runtime.receivers import (
    DEFAULT_RENEW_INTERVAL_SECONDS,
    ReceiverCertificate,
    ReceiverErrors,
    ResolvedCertificates,
    for_message,
)
from kpr_gateway.security.certs import Credential
from kpr_gateway.security.errors import BadSignatureError, UnexpectedSignerError
from kpr_gateway.tenancy import (
    EnvironmentNotAllowedError,
    TargetEnvironment,
    Tenant,
    TenantsFile,
    addressable_environments,
    message_environment,
)
from kpr_gateway.tenancy.credentials import load_tenant_credentials

SERVICE_NAME = "receipts"
NHN_SYSTEM = "nhn"
TRACER_NAME = "kpr_gateway.receipts"
_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# What a rotated signing certificate looks like: a new signer, or a signature that fails.
_SIGNATURE_FAILURES = (UnexpectedSignerError, BadSignatureError)

QueueKind = Literal["async", "error"]
NoticeOutcome = Literal["acknowledged", "acknowledged_with_errors", "rejected", "transport_error"]
_SIGNER_ERRORS = ReceiverErrors(down=RegistryDownError, unresolved=WrongSignerError)
_OUTCOME_OF_STATUS: dict[int, NoticeOutcome] = {
    1: "acknowledged",
    2: "rejected",
    3: "acknowledged_with_errors",
}


@dataclass(frozen=True, slots=True)
class ReceiptsOptions:
    credit: int = 10
    apprec_deadline: timedelta = timedelta(hours=24)
    overdue_sweep_seconds: float = 60.0
    backlog_quiet_seconds: float = 5.0
    """The first overdue sweep waits until no AppRec arrived for this long (the backlog read)."""
    release_delay_seconds: float = 2.0
    signer_renew_interval_seconds: float = DEFAULT_RENEW_INTERVAL_SECONDS
    """At most one registry lookup per tenant this often after failed AppRec signatures."""


@dataclass(frozen=True, slots=True)
class _Received:
    """What a message on a tenant's queue says: which sent message, and its outcome."""

    msg_id: str
    outcome: ReceiptOutcome
    signer: x509.Certificate | None = None
    """The certificate that signed the AppRec (None for a transport error)."""


class Receipts:
    work_arrives_by = WorkSource.NHN

    def __init__(
        self,
        *,
        tenants: TenantsFile,
        decryption: Mapping[str, Sequence[Credential]],
        receivers: ReceiverDirectory,
        ledger: Ledger,
        bus: Bus,
        nhn: NhnTransport,
        metrics: ServiceMetrics,
        options: ReceiptsOptions,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._tenants = tenants
        self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        self._decryption = {tenant_id: tuple(keys) for tenant_id, keys in decryption.items()}
        self._signers = ResolvedCertificates(
            receivers,
            ReceiverCertificate.SIGNING,
            renew_interval_seconds=options.signer_renew_interval_seconds,
        )
        self._started = StartGate()
        self._ledger = ledger
        self._bus = bus
        self._nhn = nhn
        self._metrics = metrics
        self._options = options
        self._clock = clock
        self._received = metrics.counter(
            "received",
            "Receipts that closed a sent message, by tenant and outcome.",
            ("tenant", "outcome"),
        )
        self._parked = metrics.counter(
            "parked", "NHN messages parked, by tenant and reason class.", ("tenant", "reason")
        )
        self._released = metrics.counter(
            "released",
            "NHN messages handed back for redelivery, by tenant and cause.",
            ("tenant", "cause"),
        )
        self._backlog = BacklogWatch(options.backlog_quiet_seconds)
        self.sweep = OverdueSweep(
            ledger,
            [tenant.id for tenant in tenants.tenants],
            deadline=options.apprec_deadline,
            interval_seconds=options.overdue_sweep_seconds,
            overdue=metrics.gauge(
                "overdue", "Messages past the AppRec deadline without an outcome.", ("tenant",)
            ),
            marked=metrics.counter(
                "marked_overdue", "Messages marked overdue by the sweep.", ("tenant",)
            ),
            backlog=self._backlog,
        )

    # -- Component ----------------------------------------------------------------------

    def register(self) -> None:
        for tenant in self._tenants.tenants:
            self._nhn.subscribe(
                tenant.async_queue,
                self._handler(tenant.id, tenant.async_queue, "async"),
                credit=self._options.credit,
            )
            self._nhn.subscribe(
                tenant.error_queue,
                self._handler(tenant.id, tenant.error_queue, "error"),
                credit=self._options.credit,
            )

    async def start(self) -> None:
        """Resolves every tenant's expected AppRec signer, then starts the overdue sweep."""
        await self._started.run(lambda: self._signers.resolve(self._tenants.tenants))
        self.sweep.start()

    async def close(self) -> None:
        await self.sweep.stop()

    def http_app(self) -> None:
        return None

    # -- handling -----------------------------------------------------------------------

    def _handler(
        self, tenant_id: str, queue: str, kind: QueueKind
    ) -> Callable[[NhnDelivery], Awaitable[None]]:
        async def handle(delivery: NhnDelivery) -> None:
            self._backlog.arrived()
            await self.handle(tenant_id, queue, kind, delivery)

        return handle

    async def handle(
        self, tenant_id: str, queue: str, kind: QueueKind, delivery: NhnDelivery
    ) -> None:
        """Process one NHN message and settle it: accept, park then accept, or release."""
        message = delivery.message
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"nhn {kind} process",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": NHN_SYSTEM,
                "messaging.destination.name": queue,
                "messaging.message.id": message.message_id,
                "messaging.operation.type": "process",
                "kprgw.tenant": tenant_id,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            outcome = await self._settle(tenant_id, queue, kind, delivery, span)
            span.set_attribute("kprgw.outcome", outcome)
        self._metrics.record_handled(f"nhn_{kind}", outcome, time.perf_counter() - started)

    async def _settle(
        self,
        tenant_id: str,
        queue: str,
        kind: QueueKind,
        delivery: NhnDelivery,
        span: trace.Span,
    ) -> HandlerOutcome:
        message = delivery.message
        try:
            await self._started.wait()
            if kind == "async":
                received = await self._read_apprec(tenant_id, message)
            else:
                received = await self._read_transport_error(tenant_id, message)
            span.set_attribute("kprgw.msg_id", received.msg_id)
            await self._close(tenant_id, received, span)
        except ReceiptParkedError as parked:
            return await self._park(tenant_id, queue, delivery, parked, span)
        except ReceiptsUnavailableError as unavailable:
            return await self._release(tenant_id, delivery, unavailable.cause, span)
        except NotStartedError:
            return await self._release(tenant_id, delivery, "start-up", span)
        except Exception:  # a bug must not lose the message: hand it back to NHN
            _log.exception("tenant %s: NHN message %s failed", tenant_id, message.message_id)
            return await self._release(tenant_id, delivery, "unexpected", span)
        crash_point("receipts.before_settle")
        await delivery.accept()
        return "ack"

    async def _read_apprec(self, tenant_id: str, message: NhnMessage) -> _Received:
        received_at = self._clock()
        apprec, signer = await self._open(tenant_id, message.body)
        span = trace.get_current_span()
        span.set_attribute("kprgw.apprec.status", int(apprec.status.code))
        if apprec.warnings:
            _log.info(
                "tenant %s: AppRec %s read with %d warning(s): %s",
                tenant_id,
                apprec.id,
                len(apprec.warnings),
                "; ".join(apprec.warnings),
            )
        return _Received(
            sent_msg_id(apprec), apprec_outcome(apprec, received_at=received_at), signer
        )

    async def _open(self, tenant_id: str, body: bytes) -> tuple[AppRec, x509.Certificate]:
        """Decrypt, verify and parse, with the signer it verified against: the tenant's own
        receiver's, else that of another receiver the tenant may send to (whether it is the
        right one is checked once the message is known, ``_check_signer``). A signature that
        fails against a certificate from the Address Registry is checked once more against
        the registry's current one."""
        tenant = self._tenants.by_id(tenant_id)
        signer = self._signers.current(tenant_id)
        try:
            return await self._open_with(tenant_id, body, signer), signer
        except UnopenableMessageError as exc:
            if not isinstance(exc.__cause__, _SIGNATURE_FAILURES):
                raise
            failure = exc
        for environment in addressable_environments(tenant)[1:]:
            other = await self._other_signer(tenant, environment)
            if other is None or other == signer:
                continue
            try:
                return await self._open_with(tenant_id, body, other), other
            except UnopenableMessageError as exc:
                if not isinstance(exc.__cause__, _SIGNATURE_FAILURES):
                    raise
        renewed = await self._signers.renew(tenant, signer)
        if renewed is None:
            raise failure
        _log.info("tenant %s: AppRec checked against the renewed signing certificate", tenant_id)
        return await self._open_with(tenant_id, body, renewed), renewed

    async def _other_signer(
        self, tenant: Tenant, environment: TargetEnvironment
    ) -> x509.Certificate | None:
        """The signing certificate of the tenant's receiver in another environment; None when
        it cannot be resolved (then it cannot have signed anything we can verify)."""
        try:
            return await self._signers.obtain(tenant, environment)
        except RegistryUnavailableError as exc:
            raise RegistryDownError(f"the receiver cannot be looked up now: {exc}") from exc
        except RegistryError as exc:
            _log.warning(
                "tenant %s: the %s receiver's signing certificate cannot be resolved: %s",
                tenant.id,
                environment.value,
                exc,
            )
            return None

    async def _check_signer(self, record: MessageRecord, received: _Received) -> None:
        """An AppRec must be signed by the receiver its message went to (the message's
        environment, else the tenant's own): KPR's answer to a message for KPR Validering,
        or the other way round, does not close it."""
        if received.signer is None:
            return
        tenant, msg_id = self._tenants.by_id(record.tenant_id), record.msg_id
        try:
            environment = message_environment(tenant, record.environment)
        except EnvironmentNotAllowedError as exc:
            raise WrongSignerError(f"AppRec for message {msg_id}: {exc}", msg_id=msg_id) from exc
        expected = await for_message(self._signers.obtain(tenant, environment), _SIGNER_ERRORS)
        if received.signer != expected:
            raise WrongSignerError(
                f"AppRec for message {msg_id} is not signed by the receiver it was sent to"
                f" ({environment.value})",
                msg_id=msg_id,
            )

    async def _open_with(self, tenant_id: str, body: bytes, signer: x509.Certificate) -> AppRec:
        keys = TenantKeys(
            decryption=self._decryption[tenant_id],
            expected_signer=signer,
            addressing=apprec_addressing(self._tenants.by_id(tenant_id)),
        )
        try:
            return await asyncio.to_thread(open_apprec, body, keys)
        except ReceiptParkedError:
            raise
        except Exception as exc:  # reading is deterministic: a retry would fail the same way
            raise ReceiptParkedError(f"unexpected {type(exc).__name__} reading an AppRec") from exc

    async def _read_transport_error(self, tenant_id: str, message: NhnMessage) -> _Received:
        received_at = self._clock()
        error = read_error(message.application_properties())
        trace.get_current_span().set_attribute("kprgw.transport_error", error.condition)
        msg_id = await self._from_ledger(
            self._ledger.msg_id_for_transport_id(tenant_id, error.original_message_id)
        )
        if msg_id is None:
            raise UnmatchedTransportError(
                f"transport error for no known message (AMQP id {error.original_message_id})"
            )
        return _Received(msg_id, transport_error_outcome(error, received_at=received_at))

    async def _close(self, tenant_id: str, received: _Received, span: trace.Span) -> None:
        """Record the outcome in the ledger, then publish the notice."""
        msg_id, outcome = received.msg_id, received.outcome
        is_apprec = outcome.kind == "apprec"
        record = await self._from_ledger(self._ledger.get_message(tenant_id, msg_id))
        if record is None:
            raise _unmatched(is_apprec, msg_id)
        _link_to_sent_message(span, record)
        await self._check_signer(record, received)
        match = await self._from_ledger(
            self._ledger.record_receipt(tenant_id, msg_id, outcome, trace_id=current_trace_id())
        )
        if match is ReceiptMatch.UNKNOWN_MESSAGE:  # expired between the two calls
            raise _unmatched(is_apprec, msg_id)
        crash_point("receipts.after_ledger")
        if match is ReceiptMatch.ALREADY_CLOSED:
            stored = await self._from_ledger(self._ledger.get_message(tenant_id, msg_id))
            closed_with = stored.receipt if stored is not None else None
            if closed_with is None or not same_receipt(closed_with, outcome):
                raise _replayed(is_apprec, msg_id)
            # Our own redelivery after a crash before the NHN accept: the notice may be lost.
            _log.info("tenant %s: receipt for %s arrived again; notice repeated", tenant_id, msg_id)
            span.set_attribute("kprgw.redelivered", True)
            outcome = closed_with
        notice = _notice(tenant_id, msg_id, outcome)
        try:
            await self._bus.publish(queues.RECEIPTS, notice.to_body(), message_id=msg_id)
        except PipelineError as exc:
            raise BusDownError(f"notice for {msg_id} not confirmed: {exc}") from exc
        span.set_attribute("kprgw.receipt.outcome", notice.outcome)
        if match is ReceiptMatch.MATCHED:
            self._received.labels(tenant=tenant_id, outcome=notice.outcome).inc()
            _log.info("tenant %s: message %s %s", tenant_id, msg_id, notice.outcome)

    async def _park(
        self,
        tenant_id: str,
        queue: str,
        delivery: NhnDelivery,
        parked: ReceiptParkedError,
        span: trace.Span,
    ) -> HandlerOutcome:
        message = delivery.message
        try:
            await self._bus.park(
                queues.RECEIPTS,
                message.body,
                message_id=message.message_id or str(uuid.uuid4()),
                reason=parked.reason,
                headers=parked_headers(
                    message,
                    tenant_id=tenant_id,
                    queue=queue,
                    reason_class=parked.reason_class,
                    msg_id=parked.msg_id,
                ),
            )
        except PipelineError as exc:
            _log.warning("tenant %s: parking failed (%s)", tenant_id, type(exc).__name__)
            return await self._release(tenant_id, delivery, BusDownError.cause, span)
        _log.warning(
            "tenant %s: NHN message %s on %s parked: %s",
            tenant_id,
            message.message_id,
            queue,
            parked.reason,
        )
        span.set_status(Status(StatusCode.ERROR, parked.reason))
        span.set_attribute("kprgw.park.reason", parked.reason_class)
        self._parked.labels(tenant=tenant_id, reason=parked.reason_class).inc()
        await delivery.accept()
        return "park"

    async def _release(
        self, tenant_id: str, delivery: NhnDelivery, cause: str, span: trace.Span
    ) -> HandlerOutcome:
        _log.warning(
            "tenant %s: NHN message %s released (%s down); NHN delivers it again",
            tenant_id,
            delivery.message.message_id,
            cause,
        )
        span.set_status(Status(StatusCode.ERROR, f"released: {cause}"))
        self._released.labels(tenant=tenant_id, cause=cause).inc()
        await asyncio.sleep(self._options.release_delay_seconds)
        await delivery.release()
        return "retry"

    @staticmethod
    async def _from_ledger(call: Awaitable[_T]) -> _T:
        try:
            return await call
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc


def _unmatched(is_apprec: bool, msg_id: str) -> ReceiptParkedError:
    if is_apprec:
        return UnmatchedAppRecError("AppRec for no known message", msg_id=msg_id)
    return UnmatchedTransportError("transport error for no known message", msg_id=msg_id)


def _replayed(is_apprec: bool, msg_id: str) -> ReceiptParkedError:
    if is_apprec:
        return ReplayedAppRecError("AppRec for an already closed message", msg_id=msg_id)
    return LateTransportError("transport error for an already closed message", msg_id=msg_id)


def _notice(tenant_id: str, msg_id: str, outcome: ReceiptOutcome) -> ReceiptNotice:
    if outcome.kind == "transport_error":
        errors = [
            ReceiptError(
                code=outcome.error_condition or "unknown", text=outcome.error_description or None
            )
        ]
        return ReceiptNotice(
            tenant_id=tenant_id,
            msg_id=uuid.UUID(msg_id),
            outcome="transport_error",
            status_code=None,
            errors=errors,
            received_at=outcome.received_at,
        )
    status = outcome.status_code
    if status not in (1, 2, 3):
        raise ValueError("an AppRec outcome has status 1, 2 or 3")
    return ReceiptNotice(
        tenant_id=tenant_id,
        msg_id=uuid.UUID(msg_id),
        outcome=_OUTCOME_OF_STATUS[status],
        status_code=status,
        errors=[
            ReceiptError(code=e.code, system=e.system, text=e.text, ref=e.ref)
            for e in outcome.errors
        ],
        received_at=outcome.received_at,
    )


def _link_to_sent_message(span: trace.Span, record: MessageRecord) -> None:
    """Link the receipt's span to the trace that built and sent the message."""
    sent = span_context_of(record.traceparent) if record.traceparent else None
    if sent is not None:
        span.add_link(sent, {"kprgw.link": "sent message"})


def load_decryption_keys(tenants: TenantsFile) -> dict[str, tuple[Credential, ...]]:
    """Each tenant's decryption keys (current, then previous), checked at build time."""
    return {tenant.id: load_tenant_credentials(tenant).decryption for tenant in tenants.tenants}


def build(context: ServiceContext, settings: ReceiptsSettings) -> Receipts:
    """Loads every tenant's decryption keys now; the expected signers are resolved by
    ``start``. A tenant without either stops the start-up."""
    if context.nhn is None:
        raise NoTransportError("receipts needs an NHN transport to receive from")
    return Receipts(
        tenants=context.tenants,
        decryption=load_decryption_keys(context.tenants),
        receivers=context.receivers,
        ledger=context.ledger,
        bus=context.bus,
        nhn=context.nhn,
        metrics=context.metrics,
        options=ReceiptsOptions(
            credit=settings.credit,
            apprec_deadline=settings.apprec_deadline,
            overdue_sweep_seconds=settings.overdue_sweep_seconds,
            backlog_quiet_seconds=settings.backlog_quiet_seconds,
            release_delay_seconds=settings.release_delay_seconds,
        ),
    )
