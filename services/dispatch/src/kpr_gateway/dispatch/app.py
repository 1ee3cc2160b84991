"""dispatch: consumes ``outbox``, sends each sealed message to the KPR receiver's queue on
NHN's Tjenestebuss with the wire profile (DESIGN.md section 5), and moves the message to
``dispatched`` once the broker has settled it.

The receiver's queue is resolved per tenant in ``start`` (``receiver_override``, else the
Address Registry); deliveries that arrive meanwhile wait, and a tenant that cannot be
resolved stops the start-up. A message that names another environment (an annual test
submission to KPR Validering) goes to that environment's receiver, whose queue is resolved when
a message first needs it (``RouteBook``).

Crash safety: a message the ledger already has at ``dispatched`` or beyond is skipped. Every
send is noted in the ledger first, with its AMQP message-id, so a resend after a crash
between the send and the ledger step shows up in the message's history (and a transport
error for either copy can be matched).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import trace

from kpr_gateway.dispatch.errors import (
    LEDGER_ERRORS,
    RECEIVER_ERRORS,
    AddressMismatchError,
    NoTransportError,
    ReceiverUnresolvedError,
    SendFailedError,
    UnknownTenantError,
)
from kpr_gateway.dispatch.routes import RouteBook, TenantRoute, resolve_routes
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.nhn import CMS_CONTENT_TYPE, NhnMessage, NhnSendError, NhnTransport, new_message
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.observability.tracing import current_trace_id
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.pipeline.delivery import Delivery
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.runtime import MessageStep, ServiceContext, StartGate, WorkSource
from kpr_gateway.runtime.crash_points import crash_point
from kpr_gateway.runtime.receivers import for_message
from kpr_gateway.tenancy import EnvironmentNotAllowedError, TenantsFile, message_environment

SERVICE_NAME = "dispatch"
_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("kpr_gateway.dispatch")
# From an in-memory transport to a settlement from a busy remote broker over TLS.
_SEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass(frozen=True, slots=True)
class SendPolicy:
    ttl_ms: int
    """The AMQP header ttl of every message sent."""
    timeout_seconds: float
    """How long to wait for the broker's settlement before retrying through the bus."""
    prefetch: int


class Dispatch:
    work_arrives_by = WorkSource.BUS

    def __init__(
        self,
        *,
        tenants: TenantsFile,
        receivers: ReceiverDirectory,
        ledger: Ledger,
        bus: Bus,
        nhn: NhnTransport,
        metrics: ServiceMetrics,
        policy: SendPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._receivers = receivers
        self._routes: dict[str, TenantRoute] = {}
        self._other_routes = RouteBook(receivers)
        self._started = StartGate()
        self._ledger = ledger
        self._step = MessageStep(
            ledger, metrics, skip_from=MessageState.DISPATCHED, errors=LEDGER_ERRORS, log=_log
        )
        self._bus = bus
        self._nhn = nhn
        self._policy = policy
        self._clock = clock
        self._sent = metrics.counter("sent", "KPR messages sent to NHN, by tenant.", ("tenant",))
        self._send_failures = metrics.counter(
            "send_failures", "Sends the NHN broker did not settle, by tenant.", ("tenant",)
        )
        self._send_seconds = metrics.histogram(
            "send_seconds",
            "Time from handing a message to the NHN transport to the broker's settlement.",
            buckets=_SEND_BUCKETS,
        )

    def register(self) -> None:
        self._bus.subscribe(queues.OUTBOX, self.handle_sealed, prefetch=self._policy.prefetch)

    async def start(self) -> None:
        """Resolves every tenant's route (the runtime has started the bus and the NHN
        transport); a tenant that cannot be resolved stops the start-up."""
        await self._started.run(self._resolve_routes)

    async def _resolve_routes(self) -> None:
        self._routes = await resolve_routes(self._tenants, self._receivers)

    async def close(self) -> None:
        """Nothing pending of its own: every send finishes inside its handler."""

    def http_app(self) -> None:
        return None

    async def handle_sealed(self, delivery: Delivery) -> None:
        sealed = SealedMessage.from_body(delivery.body)
        tenant_id, msg_id = sealed.tenant_id, str(sealed.msg_id)
        trace.get_current_span().set_attributes({"kprgw.tenant": tenant_id, "kprgw.msg_id": msg_id})
        await self._started.wait()
        route = self._routes.get(tenant_id)
        if route is None:
            raise UnknownTenantError(f"message {msg_id} names unknown tenant {tenant_id}")
        if await self._step.should_skip(tenant_id, msg_id):
            return
        if sealed.environment is not None:
            route = await self._route_of(route, sealed)
        _check_addressing(route, sealed)
        message = self._nhn_message(route, sealed)
        await self._note_attempt(tenant_id, msg_id, message.message_id)
        crash_point("dispatch.after_attempt")
        await self._send(tenant_id, msg_id, message)
        crash_point("dispatch.after_send")
        await self._step.advance(
            tenant_id,
            msg_id,
            MessageState.DISPATCHED,
            detail={"transport_message_id": message.message_id},
        )
        self._sent.labels(tenant=tenant_id).inc()

    async def _route_of(self, own: TenantRoute, sealed: SealedMessage) -> TenantRoute:
        """The route to the receiver of the environment the message names (``own`` when it
        is the tenant's); one its tenant may not send to parks the message."""
        tenant = self._tenants.by_id(sealed.tenant_id)
        try:
            environment = message_environment(tenant, sealed.environment)
        except EnvironmentNotAllowedError as exc:
            raise ReceiverUnresolvedError(f"message {sealed.msg_id}: {exc}") from exc
        if environment is tenant.environment:
            return own
        return await for_message(self._other_routes.route(tenant, environment), RECEIVER_ERRORS)

    def _nhn_message(self, route: TenantRoute, sealed: SealedMessage) -> NhnMessage:
        return new_message(
            to_queue=route.to_queue,
            subject=sealed.msg_type,
            reply_to=route.reply_to,
            from_her_id=sealed.from_her_id,
            to_her_id=sealed.to_her_id,
            body=sealed.cms,
            ttl_ms=self._policy.ttl_ms,
            now=self._clock(),
            content_type=CMS_CONTENT_TYPE,
        )

    async def _note_attempt(self, tenant_id: str, msg_id: str, transport_id: str) -> None:
        with self._step.reaching_ledger(msg_id):
            await self._ledger.note_send_attempt(
                tenant_id, msg_id, transport_message_id=transport_id, trace_id=current_trace_id()
            )

    async def _send(self, tenant_id: str, msg_id: str, message: NhnMessage) -> None:
        with _tracer.start_as_current_span(
            "nhn send",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "kprgw.tenant": tenant_id,
                "kprgw.msg_id": msg_id,
                "messaging.system": "nhn",
                "messaging.destination.name": message.to,
                "messaging.message.id": message.message_id,
            },
        ):
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._policy.timeout_seconds):
                    await self._nhn.send(message)
            except NhnSendError as exc:
                self._send_failures.labels(tenant=tenant_id).inc()
                raise SendFailedError(f"message {msg_id} not accepted by NHN: {exc}") from exc
            except TimeoutError as exc:
                self._send_failures.labels(tenant=tenant_id).inc()
                raise SendFailedError(
                    f"message {msg_id}: NHN did not settle the send within "
                    f"{self._policy.timeout_seconds:g} s"
                ) from exc
            self._send_seconds.observe(time.perf_counter() - started)


def _check_addressing(route: TenantRoute, sealed: SealedMessage) -> None:
    expected = (route.from_her_id, route.to_her_id)
    if (sealed.from_her_id, sealed.to_her_id) != expected:
        raise AddressMismatchError(
            f"tenant {route.tenant_id}: message {sealed.msg_id} was sealed from HER-id "
            f"{sealed.from_her_id} to {sealed.to_her_id}, but the tenant now sends from "
            f"{expected[0]} to {expected[1]}"
        )


def build(context: ServiceContext, settings: DispatchSettings) -> Dispatch:
    """The routes are resolved by ``start``: a tenant without a receiver stops the start-up."""
    if context.nhn is None:
        raise NoTransportError("dispatch needs an NHN transport in its service context")
    return Dispatch(
        tenants=context.tenants,
        receivers=context.receivers,
        ledger=context.ledger,
        bus=context.bus,
        nhn=context.nhn,
        metrics=context.metrics,
        policy=SendPolicy(
            ttl_ms=settings.message_ttl_ms,
            timeout_seconds=settings.send_timeout_seconds,
            prefetch=settings.prefetch,
        ),
    )
