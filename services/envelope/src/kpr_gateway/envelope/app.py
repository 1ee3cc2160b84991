"""envelope: consumes ``messages``, seals each MsgHead document (CMS, DESIGN.md section 4)
with the tenant's signing credential for the KPR receiver's encryption certificate,
publishes it to ``outbox`` and moves the message to ``enveloped`` in the ledger.

The signing credentials are loaded by ``build``; the receiver's encryption certificate is
resolved per tenant in ``start`` (``receiver_override``, else the Address Registry), and a
tenant that cannot be resolved stops the start-up. It is not looked up per message: when it
is no longer fit to seal with (expired, say) and came from the registry, it is looked up
once more (KPR may have a new one) before the message is parked.

A message that names its environment (an annual test submission to KPR Validering) is sealed
for that environment's receiver, resolved when first needed and then kept
(``ResolvedCertificates.obtain``); an environment its tenant may not send to, or a receiver that
cannot be resolved, parks it (registry down: retried).

A message whose sealed form is larger than the NHN limit (``max_nhn_message_bytes``) is not
sent: the ledger records it ``refused`` with envelope's reason (no receipt: KPR never saw it),
and the delivery is parked with the same reason.

Crash safety: a message the ledger already has at ``enveloped`` or beyond is skipped; a
crash between the publish and the ledger step publishes a second sealed copy, which
dispatch skips once the first is dispatched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from cryptography import x509
from opentelemetry import trace

from kpr_gateway.envelope.errors import (
    LEDGER_ERRORS,
    RECEIVER_ERRORS,
    MessageTooLargeError,
    ReceiverUnresolvedError,
    SealError,
    UnknownTenantError,
)
from kpr_gateway.envelope.sealing import (
    RECEIVER_ENCRYPTION,
    SIGNING,
    NamedCertificate,
    TenantSealing,
    expiring,
    load_sealing,
)
from kpr_gateway.envelope.settings import DEFAULT_MAX_NHN_MESSAGE_BYTES, EnvelopeSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import BuiltMessage, SealedMessage
from kpr_gateway.pipeline.delivery import Delivery
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.runtime import MessageStep, ServiceContext, StartGate, WorkSource
from kpr_gateway.runtime.crash_points import crash_point
from kpr_gateway.runtime.receivers import (
    DEFAULT_RENEW_INTERVAL_SECONDS,
    ReceiverCertificate,
    ResolvedCertificates,
    for_message,
)
from kpr_gateway.security import cms
from kpr_gateway.security.certs import Usage, check_certificate, days_to_expiry
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.tenancy import (
    EnvironmentNotAllowedError,
    TargetEnvironment,
    TenantsFile,
    kpr_receiver_her_id,
    message_environment,
)

SERVICE_NAME = "envelope"
_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("kpr_gateway.envelope")
# A seal is about a millisecond; queueing behind other work on two cores can make it more.
_SEAL_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Envelope:
    work_arrives_by = WorkSource.BUS

    def __init__(
        self,
        *,
        tenants: TenantsFile,
        sealing: Mapping[str, TenantSealing],
        receivers: ReceiverDirectory,
        ledger: Ledger,
        bus: Bus,
        metrics: ServiceMetrics,
        prefetch: int,
        expiry_warning_days: int = 60,
        max_nhn_message_bytes: int = DEFAULT_MAX_NHN_MESSAGE_BYTES,
        renew_interval_seconds: float = DEFAULT_RENEW_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._sealing = dict(sealing)
        self._recipients = ResolvedCertificates(
            receivers, ReceiverCertificate.ENCRYPTION, renew_interval_seconds=renew_interval_seconds
        )
        self._started = StartGate()
        self._step = MessageStep(
            ledger, metrics, skip_from=MessageState.DISPATCHED, errors=LEDGER_ERRORS, log=_log
        )
        self._bus = bus
        self._prefetch = prefetch
        self._expiry_warning_days = expiry_warning_days
        self._max_nhn_message_bytes = max_nhn_message_bytes
        self._clock = clock
        self._sealed = metrics.counter("sealed", "KPR messages sealed, by tenant.", ("tenant",))
        self._too_large = metrics.counter(
            "too_large",
            "Messages not sent because sealed they are over the NHN size limit, by tenant.",
            ("tenant",),
        )
        self._seal_seconds = metrics.histogram(
            "seal_seconds", "Time to sign and encrypt one message.", buckets=_SEAL_BUCKETS
        )
        self._days_left = metrics.gauge(
            "certificate_days_left",
            "Days until a certificate used for sealing expires.",
            ("tenant", "certificate"),
        )

    def _certificates(self) -> list[NamedCertificate]:
        """The certificates sealing uses now: each tenant's own, and the receiver's."""
        return [
            *(NamedCertificate(t, SIGNING, s.signer.certificate) for t, s in self._sealing.items()),
            *(NamedCertificate(t, RECEIVER_ENCRYPTION, c) for t, c in self._recipients.items()),
        ]

    def _days_left_of(self, tenant_id: str, name: str) -> Callable[[], float]:
        """Read at scrape time, so the gauge counts down (and follows a renewed certificate)
        without anything refreshing it."""

        def days_left() -> float:
            if name == SIGNING:
                certificate = self._sealing[tenant_id].signer.certificate
            else:
                certificate = self._recipients.current(tenant_id)
            return days_to_expiry(certificate, self._clock())

        return days_left

    def register(self) -> None:
        self._bus.subscribe(queues.MESSAGES, self.handle_message, prefetch=self._prefetch)

    async def start(self) -> None:
        """Resolves every tenant's receiver encryption certificate; deliveries that arrive
        meanwhile wait. A tenant that cannot be resolved stops the start-up."""
        await self._started.run(self._resolve_receivers)

    async def _resolve_receivers(self) -> None:
        await self._recipients.resolve(self._tenants.tenants)
        certificates = self._certificates()
        for entry in certificates:
            self._days_left.labels(tenant=entry.tenant_id, certificate=entry.name).set_function(
                self._days_left_of(entry.tenant_id, entry.name)
            )
        for soon in expiring(certificates, within_days=self._expiry_warning_days):
            _log.warning(
                "tenant %s: %s certificate expires in %d days",
                soon.tenant_id,
                soon.certificate,
                soon.days_left,
            )

    async def close(self) -> None:
        """Nothing pending of its own: every delivery finishes inside its handler."""

    def http_app(self) -> None:
        return None

    async def handle_message(self, delivery: Delivery) -> None:
        built = BuiltMessage.from_body(delivery.body)
        tenant_id, msg_id = built.tenant_id, str(built.msg_id)
        trace.get_current_span().set_attributes({"kprgw.tenant": tenant_id, "kprgw.msg_id": msg_id})
        await self._started.wait()
        sealing = self._sealing.get(tenant_id)
        if sealing is None:
            raise UnknownTenantError(f"message {msg_id} names unknown tenant {tenant_id}")
        if await self._step.should_skip(tenant_id, msg_id):
            return
        environment = self._environment(built)
        # The sealed form is always larger than the document: a document over the limit is
        # refused without the work of sealing it.
        await self._refuse_if_too_large(tenant_id, msg_id, len(built.document), sealed=False)
        cms_bytes = await self._seal(sealing, msg_id, built.document, environment)
        await self._refuse_if_too_large(tenant_id, msg_id, len(cms_bytes), sealed=True)
        sealed = SealedMessage(
            tenant_id=tenant_id,
            msg_id=built.msg_id,
            msg_type=built.msg_type,
            batch_id=built.batch_id,
            from_her_id=sealing.from_her_id,
            to_her_id=kpr_receiver_her_id(environment),
            environment=built.environment,
            cms=cms_bytes,
        )
        # Ledger first: dispatch may act on the sealed message at once, and the history should
        # read in order. A crash before the publish is recovered by the redelivered message,
        # which is sealed again because only a dispatched message is skipped.
        await self._step.advance(tenant_id, msg_id, MessageState.ENVELOPED)
        crash_point("envelope.after_mark")
        await self._bus.publish(queues.OUTBOX, sealed.to_body(), message_id=msg_id)
        self._sealed.labels(tenant=tenant_id).inc()

    async def _refuse_if_too_large(
        self, tenant_id: str, msg_id: str, size: int, *, sealed: bool
    ) -> None:
        """Over the NHN limit: recorded in the ledger (``refused``, with the reason) and
        parked by raising ``MessageTooLargeError``; NHN would refuse it, or worse, drop it."""
        limit = self._max_nhn_message_bytes
        if size <= limit:
            return
        what = "sealed" if sealed else "before sealing"
        reason = (
            f"tenant {tenant_id}: message {msg_id} is {size} bytes {what}, over the NHN message"
            f" limit of {limit} bytes (KPRGW_ENVELOPE_MAX_NHN_MESSAGE_BYTES); not sent"
        )
        detail = {
            "refused_by": SERVICE_NAME,
            "rule": "nhn-message-size",
            "reason": reason,
            "bytes": size,
            "sealed": sealed,
            "limit_bytes": limit,
        }
        await self._step.advance(tenant_id, msg_id, MessageState.REFUSED, detail=detail)
        self._too_large.labels(tenant=tenant_id).inc()
        _log.warning("%s", reason)
        raise MessageTooLargeError(reason)

    def _environment(self, built: BuiltMessage) -> TargetEnvironment:
        """The environment whose receiver the message goes to (the one it names, else its
        tenant's); one its tenant may not send to parks it."""
        try:
            return message_environment(self._tenants.by_id(built.tenant_id), built.environment)
        except EnvironmentNotAllowedError as exc:
            raise ReceiverUnresolvedError(f"message {built.msg_id}: {exc}") from exc

    async def _seal(
        self, sealing: TenantSealing, msg_id: str, document: bytes, environment: TargetEnvironment
    ) -> bytes:
        with _tracer.start_as_current_span(
            "seal", attributes={"kprgw.tenant": sealing.tenant_id, "kprgw.msg_id": msg_id}
        ):
            now = self._clock()
            recipient = await self._recipient(sealing.tenant_id, environment, now)
            started = time.perf_counter()
            try:
                # CPU work off the event loop, so deliveries and heartbeats keep flowing.
                sealed = await asyncio.to_thread(
                    cms.seal, document, sealing.signer, recipient, now=now
                )
            except SecurityError as exc:
                raise SealError(
                    f"tenant {sealing.tenant_id}: message {msg_id} cannot be sealed: {exc}"
                ) from exc
            self._seal_seconds.observe(time.perf_counter() - started)
            return sealed

    async def _recipient(
        self, tenant_id: str, environment: TargetEnvironment, now: datetime
    ) -> x509.Certificate:
        """The certificate of the environment's receiver; one that is no longer fit is renewed
        from the Address Registry if it came from there (else sealing refuses it and the
        message is parked)."""
        tenant = self._tenants.by_id(tenant_id)
        recipient = await for_message(
            self._recipients.obtain(tenant, environment, now=now), RECEIVER_ERRORS
        )
        try:
            check_certificate(recipient, Usage.ENCRYPTION, now)
        except SecurityError:
            renewed = await self._recipients.renew(
                tenant, recipient, now=now, environment=environment
            )
            return recipient if renewed is None else renewed
        return recipient


def build(context: ServiceContext, settings: EnvelopeSettings) -> Envelope:
    """Loads every tenant's signing credential now (a tenant without one stops the start-up);
    the receivers are resolved by ``start``."""
    return Envelope(
        tenants=context.tenants,
        sealing=load_sealing(context.tenants),
        receivers=context.receivers,
        ledger=context.ledger,
        bus=context.bus,
        metrics=context.metrics,
        prefetch=settings.prefetch,
        expiry_warning_days=settings.expiry_warning_days,
        max_nhn_message_bytes=settings.max_nhn_message_bytes,
    )
