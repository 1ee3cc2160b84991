"""transform: consumes ``events``, applies the data-quality rules, batches per tenant, builds
KPR_IPL and KPR_IDE in their MsgHeads, commits the batch to the ledger and publishes to
``messages``.

Crash safety: the batch commit (events batched + messages built, with their documents) is one
atomic ledger step; the chunk is acknowledged only after the messages are published. A chunk
redelivered after a crash finds its events batched and publishes their unsent messages again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpr_gateway.ledger import (
    BatchMessage,
    EventState,
    Ledger,
    LedgerError,
    RejectionReason,
)
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent, describe_errors
from kpr_gateway.messages.shipments import Shipments, build_shipments
from kpr_gateway.observability.health import DrainState, Readiness, health_routes
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.observability.tracing import (
    current_trace_id,
    current_traceparent,
    span_context_of,
)
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import AcceptedEvent, BuiltMessage, EventChunk, MsgType
from kpr_gateway.pipeline.delivery import Delivery
from kpr_gateway.runtime import ServiceContext, WorkSource
from kpr_gateway.tenancy import (
    Tenant,
    TenantFileError,
    TenantsFile,
    kpr_receiver,
    read_pseudonym_secret,
)
from kpr_gateway.transform.batcher import Batcher, BatchKey, PendingEvent
from kpr_gateway.transform.errors import (
    BuildError,
    EventUnknownToLedgerError,
    LedgerDownError,
    UnknownTenantError,
)
from kpr_gateway.transform.rules import (
    KnownTestPersons,
    RulesConfigError,
    RuleSet,
    default_rules,
)
from kpr_gateway.transform.settings import TransformSettings

SERVICE_NAME = "transform"


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_events: int
    max_age_seconds: float
    prefetch: int


class Transform:
    work_arrives_by = WorkSource.BUS

    def __init__(
        self,
        *,
        tenants: TenantsFile,
        ledger: Ledger,
        bus: Bus,
        metrics: ServiceMetrics,
        limits: BatchLimits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracer_provider: trace.TracerProvider | None = None,
        rules: RuleSet | None = None,
    ) -> None:
        self._rules = rules or default_rules()
        self._tracer = trace.get_tracer("kpr_gateway.transform", tracer_provider=tracer_provider)
        self._tenants = {tenant.id: tenant for tenant in tenants.tenants}
        self._registry = metrics.registry
        self._http_app: Starlette | None = None
        self._secrets = {tenant.id: read_pseudonym_secret(tenant) for tenant in tenants.tenants}
        self._ledger = ledger
        self._bus = bus
        self._limits = limits
        self._clock = clock
        self._batcher = Batcher(
            self._flush,
            max_events=limits.max_events,
            max_age=limits.max_age_seconds,
            max_waiting=limits.prefetch,
        )
        self._events = metrics.counter(
            "events", "Events handled, by tenant and outcome.", ("tenant", "outcome")
        )
        self._batches = metrics.counter("batches", "Batches committed, by tenant.", ("tenant",))
        self._findings = metrics.counter(
            "rule_findings",
            "Data-quality findings, by tenant, rule id and severity.",
            ("tenant", "rule", "severity"),
        )

    def register(self) -> None:
        self._bus.subscribe(queues.EVENTS, self.handle_chunk, prefetch=self._limits.prefetch)

    async def start(self) -> None:
        """Nothing of its own to start: batches are flushed by the events that arrive."""

    def http_app(self) -> Starlette | None:
        return self._http_app

    def serve_http(self, readiness: Readiness, drain: DrainState) -> None:
        """Serve health, metrics and the operator's flush: ``POST /v1/flush[?tenant=<id>]``.

        The flush sends what this replica holds now instead of waiting for max age; the
        port is the service's internal one (no route from outside the cluster).
        """

        async def flush(request: Request) -> Response:
            tenant_id = request.query_params.get("tenant")
            if tenant_id is not None and tenant_id not in self._tenants:
                return JSONResponse({"error": f"unknown tenant {tenant_id}"}, status_code=404)
            pending = self._batcher.pending_count(tenant_id)
            await self.flush(tenant_id)
            return JSONResponse({"flushed_events": pending})

        self._http_app = Starlette(
            routes=[
                *health_routes(readiness, self._registry, shutdown=drain),
                Route("/v1/flush", flush, methods=["POST"]),
            ]
        )

    async def flush(self, tenant_id: str | None = None) -> None:
        """The operator's flush: send what is pending now instead of waiting for max age."""
        await self._batcher.flush(tenant_id)

    async def close(self) -> None:
        await self._batcher.close()

    async def handle_chunk(self, delivery: Delivery) -> None:
        chunk = EventChunk.from_body(delivery.body)
        tenant = self._tenants.get(chunk.tenant_id)
        if tenant is None:
            raise UnknownTenantError(f"chunk {chunk.chunk_id} names unknown tenant")
        settled: dict[EventState, list[str]] = defaultdict(list)
        reasons: dict[str, list[RejectionReason]] = {}
        to_batch: dict[str, list[PendingEvent]] = {}
        span_context = trace.get_current_span().get_span_context()
        # traceparent -> its span: a chunk's events mostly share a few requests' spans.
        own_spans: dict[str, SpanContext] = {}
        for accepted in chunk.events:
            event_id = str(accepted.event_id)
            try:
                event = KttEvent.model_validate(accepted.event)
            except ValidationError as exc:
                settled[EventState.REJECTED_INVALID].append(event_id)
                reasons[event_id] = [
                    RejectionReason(rule="event-format", field=e["field"], reason=e["reason"])
                    for e in describe_errors(exc)
                ]
                self._findings.labels(
                    tenant=tenant.id, rule="event-format", severity="reject"
                ).inc()
                continue
            verdict = self._rules.check(event, tenant)
            for finding in verdict.findings:
                self._findings.labels(
                    tenant=tenant.id, rule=finding.rule, severity=finding.severity.value
                ).inc()
            if verdict.state is None:
                number = verdict.municipality_number or tenant.municipality_number
                span = _event_span(accepted, span_context, own_spans)
                to_batch.setdefault(number, []).append(
                    PendingEvent(accepted, event, span, event_id)
                )
            else:
                settled[verdict.state].append(event_id)
                reasons[event_id] = verdict.reasons
        for state, event_ids in settled.items():
            try:
                await self._ledger.settle_events(
                    tenant.id, event_ids, state, trace_id=current_trace_id(), reasons=reasons
                )
            except LedgerError as exc:
                raise LedgerDownError(str(exc)) from exc
            self._events.labels(tenant=tenant.id, outcome=state.value).inc(len(event_ids))
        await asyncio.gather(
            *(
                self._batcher.add((tenant.id, municipality_number), items)
                for municipality_number, items in to_batch.items()
            )
        )

    async def _flush(self, key: BatchKey, items: Sequence[PendingEvent]) -> None:
        tenant_id, municipality_number = key
        tenant = self._tenants[tenant_id]
        unique = list({item.event_id: item for item in items}.values())
        # One link per distinct span (SpanContext itself is not hashable: its TraceState isn't)
        contexts = list(
            {
                (c.trace_id, c.span_id): c
                for c in (item.span_context for item in unique)
                if c.is_valid
            }.values()
        )
        parent = trace.set_span_in_context(NonRecordingSpan(contexts[0])) if contexts else None
        with self._tracer.start_as_current_span(
            "build batch",
            context=parent,
            links=[Link(c) for c in contexts[1:]],
            attributes={"kprgw.tenant": tenant_id, "kprgw.batch.events": len(unique)},
        ):
            await self._commit_and_publish(tenant, municipality_number, unique)

    async def _commit_and_publish(
        self, tenant: Tenant, municipality_number: str, items: list[PendingEvent]
    ) -> None:
        while items:
            shipments = await asyncio.to_thread(self._build, tenant, municipality_number, items)
            event_ids = [item.event_id for item in items]
            try:
                commit = await self._ledger.commit_batch(
                    tenant.id,
                    batch_id=shipments.batch_id,
                    event_ids=event_ids,
                    messages=[BatchMessage(s.msg_id, s.msg_type, s.document) for s in shipments],
                    trace_id=current_trace_id(),
                    traceparent=current_traceparent(),
                )
            except LedgerError as exc:
                raise LedgerDownError(str(exc)) from exc
            if commit.committed:
                await self._publish(
                    tenant.id, shipments.batch_id, [i.accepted.event_id for i in items], shipments
                )
                self._batches.labels(tenant=tenant.id).inc()
                self._events.labels(tenant=tenant.id, outcome="batched").inc(len(items))
                return
            # Some events were settled by an earlier delivery of their chunk: make sure what
            # that delivery built is published, and batch the rest again.
            await self._republish_unsent(tenant.id, list(commit.refused))
            for item in items:
                state = commit.refused.get(item.event_id)
                if state == "missing":
                    item.fail(
                        EventUnknownToLedgerError(f"event {item.event_id} is not in the ledger")
                    )
                elif state is not None:
                    item.succeed()
            items = [i for i in items if i.event_id not in commit.refused]

    def _build(
        self, tenant: Tenant, municipality_number: str, items: list[PendingEvent]
    ) -> Shipments:
        try:
            return build_shipments(
                sender=tenant.sender_organisation(),
                receiver=kpr_receiver(tenant.environment),
                municipality_number=municipality_number,
                reporter_org_number=tenant.org_number,
                events=[item.event for item in items],
                tenant_secret=self._secrets[tenant.id],
                now=self._clock(),
            )
        except MessagesError as exc:
            raise BuildError(f"batch for tenant {tenant.id} cannot be built: {exc}") from exc

    async def _publish(
        self, tenant_id: str, batch_id: str, event_ids: list[uuid.UUID], shipments: Shipments
    ) -> None:
        await self._publish_all(
            _built_message(
                tenant_id,
                msg_id=s.msg_id,
                msg_type=s.msg_type,
                batch_id=batch_id,
                event_ids=event_ids,
                document=s.document,
            )
            for s in shipments
        )

    async def _republish_unsent(self, tenant_id: str, event_ids: list[str]) -> None:
        try:
            unsent = await self._ledger.unsent_messages(tenant_id, event_ids)
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc
        await self._publish_all(
            _built_message(
                tenant_id,
                msg_id=m.msg_id,
                msg_type=m.msg_type,
                batch_id=m.batch_id,
                event_ids=[uuid.UUID(e) for e in m.event_ids],
                document=m.document,
            )
            for m in unsent
        )

    async def _publish_all(self, messages: Iterable[BuiltMessage]) -> None:
        await asyncio.gather(
            *(
                self._bus.publish(queues.MESSAGES, m.to_body(), message_id=str(m.msg_id))
                for m in messages
            )
        )


def _built_message(
    tenant_id: str,
    *,
    msg_id: str,
    msg_type: str,
    batch_id: str,
    event_ids: list[uuid.UUID],
    document: bytes,
) -> BuiltMessage:
    return BuiltMessage(
        tenant_id=tenant_id,
        msg_id=uuid.UUID(msg_id),
        msg_type=cast(MsgType, msg_type),
        batch_id=uuid.UUID(batch_id),
        event_ids=event_ids,
        document=document,
    )


def build(context: ServiceContext, settings: TransformSettings) -> Transform:
    test_persons = {}
    for tenant in context.tenants.tenants:
        if tenant.test_persons_file is not None:
            try:
                test_persons[tenant.id] = KnownTestPersons.from_file(tenant.test_persons_file)
            except RulesConfigError as exc:  # a start-up error naming the tenant, exit 2
                raise TenantFileError(f"tenant {tenant.id}: test_persons_file: {exc}") from exc
    transform = Transform(
        tenants=context.tenants,
        ledger=context.ledger,
        bus=context.bus,
        metrics=context.metrics,
        limits=BatchLimits(
            max_events=settings.max_batch_events,
            max_age_seconds=settings.max_batch_age_seconds,
            prefetch=settings.prefetch,
        ),
        rules=RuleSet(test_persons=test_persons),
    )
    transform.serve_http(context.readiness, context.drain)
    return transform


def _event_span(
    accepted: AcceptedEvent, chunk_span: SpanContext, known: dict[str, SpanContext]
) -> SpanContext:
    """The span of the request that brought the event (intake groups requests in a chunk);
    ``known`` holds the traceparents read so far."""
    traceparent = accepted.traceparent
    if traceparent is None:
        return chunk_span
    span = known.get(traceparent)
    if span is None:
        span = known[traceparent] = span_context_of(traceparent) or chunk_span
    return span
