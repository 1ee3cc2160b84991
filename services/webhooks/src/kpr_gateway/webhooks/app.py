"""webhooks: consumes ``receipts`` (a ``ReceiptNotice`` per KPR message that got its AppRec
or transport error) and tells each EPJ client whose events the message carried, by a signed
HTTP POST to the client's webhook, the message's outcome and its own events' states.

At-least-once: the ledger records each (message, client) attempt. A client already delivered
is skipped when the notice comes again (a retry, or receipts publishing it twice); any client
that failed makes the notice fail with a retryable error, so the bus's retry queues give the
backoff. The attempt that is the retry schedule's last (``max_attempts``, the bus's) records
the failing clients ``failed`` and parks the notice with their reasons. A receiver
deduplicates on ``KPRGW-Delivery``: a crash between a 2xx and the ledger's record sends again.

Notices of tenants whose clients have no webhook, of annual messages (no events) and of events
registered before the ledger kept their client are acknowledged without a POST.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from kpr_gateway.ledger import (
    DeliveryState,
    EventOutcome,
    Ledger,
    LedgerError,
    MessageRecord,
    WebhookDelivery,
)
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import ReceiptNotice
from kpr_gateway.pipeline.delivery import Delivery
from kpr_gateway.pipeline.outcome import DEFAULT_MAX_ATTEMPTS
from kpr_gateway.runtime import ServiceContext, WorkSource
from kpr_gateway.tenancy import TenantsFile
from kpr_gateway.tenancy.webhooks import WebhookTarget, load_webhooks
from kpr_gateway.webhooks.backlog import BacklogGauge
from kpr_gateway.webhooks.errors import (
    DeliveryFailedError,
    DeliveryGaveUpError,
    LedgerDownError,
    MessageUnknownToLedgerError,
    UnknownTenantError,
)
from kpr_gateway.webhooks.payload import receipt_body
from kpr_gateway.webhooks.sender import Attempt, HttpSender, Sender
from kpr_gateway.webhooks.settings import WebhooksSettings
from kpr_gateway.webhooks.signing import delivery_id

SERVICE_NAME = "webhooks"
TRACER_NAME = "kpr_gateway.webhooks"
_log = logging.getLogger(__name__)
_T = TypeVar("_T")
# From a receiver on the same network to one that answers just inside the timeout.
_POST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class _Sent:
    client_id: str
    attempt: Attempt


class Webhooks:
    work_arrives_by = WorkSource.BUS

    def __init__(
        self,
        *,
        tenants: TenantsFile,
        targets: Mapping[str, Mapping[str, WebhookTarget]],
        ledger: Ledger,
        bus: Bus,
        sender: Sender,
        metrics: ServiceMetrics,
        prefetch: int = 8,
        backlog_poll_seconds: float = 15.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        queue_limit: int | None = queues.RECEIPTS_MAX_LENGTH,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._tenant_ids = frozenset(t.id for t in tenants.tenants)
        self._targets = {tenant_id: dict(own) for tenant_id, own in targets.items()}
        self._ledger = ledger
        self._bus = bus
        self._sender = sender
        self._prefetch = prefetch
        # The bus parks after this many attempts; the last one records the failures final.
        self._max_attempts = max_attempts
        self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        self._deliveries = metrics.counter(
            "deliveries",
            "Webhook POSTs by tenant, client and outcome (delivered, failed: retried later, "
            "gave_up: the notice is parked).",
            ("tenant", "client", "outcome"),
        )
        self._skipped = metrics.counter(
            "skipped",
            "Clients skipped because the ledger has their delivery of the message already.",
            ("tenant",),
        )
        self._unaddressed = metrics.counter(
            "notices_without_webhook",
            "Notices acknowledged without a POST: no client of the message has a webhook.",
            ("tenant",),
        )
        self._post_seconds = metrics.histogram(
            "post_seconds",
            "Time for one webhook POST, whatever its outcome.",
            buckets=_POST_BUCKETS,
        )
        self._backlog = BacklogGauge(
            bus,
            queues.RECEIPTS,
            interval_seconds=backlog_poll_seconds,
            depth=metrics.gauge(
                "queue_depth", "Notices waiting on the queue, read from the broker.", ("queue",)
            ),
            limit=metrics.gauge(
                "queue_limit",
                "The queue's length limit: beyond it publishes are refused.",
                ("queue",),
            ),
            limit_value=queue_limit,
        )

    def register(self) -> None:
        self._bus.subscribe(queues.RECEIPTS, self.handle_notice, prefetch=self._prefetch)

    async def start(self) -> None:
        self._backlog.start()

    async def close(self) -> None:
        """After the bus stopped delivering: stop the gauge, close the connection pool."""
        await self._backlog.stop()
        await self._sender.aclose()

    def http_app(self) -> None:
        return None

    async def read_backlog(self) -> None:
        """One reading of the backlog gauge now (tests; the service reads it periodically)."""
        await self._backlog.read()

    async def handle_notice(self, delivery: Delivery) -> None:
        notice = ReceiptNotice.from_body(delivery.body)
        tenant_id, msg_id = notice.tenant_id, str(notice.msg_id)
        span = trace.get_current_span()
        span.set_attributes({"kprgw.tenant": tenant_id, "kprgw.msg_id": msg_id})
        if tenant_id not in self._tenant_ids:
            raise UnknownTenantError(
                f"notice for message {msg_id} names unknown tenant {tenant_id}"
            )
        targets = self._targets.get(tenant_id, {})
        if not targets:
            self._unaddressed.labels(tenant=tenant_id).inc()
            return
        events = await _from_ledger(self._ledger.webhooks.message_events(tenant_id, msg_id))
        if events is None:
            raise MessageUnknownToLedgerError(
                f"tenant {tenant_id}: no KPR message {msg_id} in the ledger"
            )
        addressed = {c: own for c, own in events.by_client.items() if c in targets}
        if not addressed:
            self._unaddressed.labels(tenant=tenant_id).inc()
            return
        recorded = await _from_ledger(self._ledger.webhooks.deliveries(tenant_id, [msg_id]))
        done = _delivered(recorded[msg_id])
        pending = {c: own for c, own in addressed.items() if c not in done}
        if len(pending) < len(addressed):
            self._skipped.labels(tenant=tenant_id).inc(len(addressed) - len(pending))
        if not pending:
            return
        last = delivery.attempt >= self._max_attempts
        sent = await asyncio.gather(
            *(
                self._deliver(targets[client_id], notice, events.message, own, last=last)
                for client_id, own in pending.items()
            )
        )
        # Recorded after every POST is done: a ledger that fails one record fails the notice,
        # never a POST that was under way.
        for result in sent:
            await self._record(tenant_id, msg_id, result, last=last)
        failed = [s for s in sent if not s.attempt.delivered]
        if not failed:
            return
        reasons = "; ".join(f"client {s.client_id}: {s.attempt.error}" for s in failed)
        if last:
            raise DeliveryGaveUpError(
                f"tenant {tenant_id}: receipt of {msg_id} not delivered after "
                f"{delivery.attempt} attempts: {reasons}"
            )
        raise DeliveryFailedError(
            f"tenant {tenant_id}: receipt of {msg_id} not delivered: {reasons}"
        )

    async def _deliver(
        self,
        target: WebhookTarget,
        notice: ReceiptNotice,
        message: MessageRecord,
        events: list[EventOutcome],
        *,
        last: bool,
    ) -> _Sent:
        tenant_id, client_id = target.tenant_id, target.client_id
        body = receipt_body(notice, message, client_id, events)
        with self._tracer.start_as_current_span(
            "webhook POST",
            kind=SpanKind.CLIENT,
            attributes={
                "kprgw.tenant": tenant_id,
                "kprgw.client": client_id,
                "kprgw.msg_id": message.msg_id,
                "http.request.method": "POST",
                "url.full": target.shown_url,
            },
        ) as span:
            started = time.perf_counter()
            attempt = await self._sender.send(
                target, body, str(delivery_id(notice.msg_id, client_id))
            )
            self._post_seconds.observe(time.perf_counter() - started)
            if attempt.status_code is not None:
                span.set_attribute("http.response.status_code", attempt.status_code)
            if not attempt.delivered:
                span.set_status(Status(StatusCode.ERROR, attempt.error or "failed"))
        outcome = "delivered" if attempt.delivered else ("gave_up" if last else "failed")
        self._deliveries.labels(tenant=tenant_id, client=client_id, outcome=outcome).inc()
        if attempt.delivered:
            _log.info(
                "tenant %s: receipt of %s delivered to client %s (%d events)",
                tenant_id,
                message.msg_id,
                client_id,
                len(events),
            )
        else:
            _log.warning(
                "tenant %s: receipt of %s not delivered to client %s at %s: %s%s",
                tenant_id,
                message.msg_id,
                client_id,
                target.shown_url,
                attempt.error,
                " (last attempt)" if last else "",
            )
        return _Sent(client_id, attempt)

    async def _record(self, tenant_id: str, msg_id: str, sent: _Sent, *, last: bool) -> None:
        attempt = sent.attempt
        if attempt.delivered:
            state = DeliveryState.DELIVERED
        else:
            state = DeliveryState.FAILED if last else DeliveryState.RETRYING
        await _from_ledger(
            self._ledger.webhooks.record_attempt(
                tenant_id,
                msg_id,
                sent.client_id,
                state=state,
                status_code=attempt.status_code,
                error=attempt.error,
            )
        )


def _delivered(deliveries: Iterable[WebhookDelivery]) -> set[str]:
    return {d.client_id for d in deliveries if d.state is DeliveryState.DELIVERED}


async def _from_ledger(call: Awaitable[_T]) -> _T:
    try:
        return await call
    except LedgerError as exc:
        raise LedgerDownError(f"ledger unreachable ({type(exc).__name__})") from exc


def build(context: ServiceContext, settings: WebhooksSettings) -> Webhooks:
    """Checks every webhook and reads its secret now: an http URL (unless allowed), or a
    secret that cannot be read or is too short, stops the start-up naming tenant and client."""
    targets = load_webhooks(context.tenants, allow_insecure_urls=settings.allow_insecure_urls)
    count = sum(len(own) for own in targets.values())
    _log.info("%d EPJ client webhook(s) configured", count)
    insecure = [t for own in targets.values() for t in own.values() if t.url.startswith("http:")]
    for target in insecure:
        _log.warning(
            "tenant %s: client %s's webhook is plain http (allow_insecure_urls)",
            target.tenant_id,
            target.client_id,
        )
    return Webhooks(
        tenants=context.tenants,
        targets=targets,
        ledger=context.ledger,
        bus=context.bus,
        sender=HttpSender(timeout_seconds=settings.timeout_seconds, ca_file=settings.ca_file),
        metrics=context.metrics,
        prefetch=settings.prefetch,
        backlog_poll_seconds=settings.backlog_poll_seconds,
    )
