"""transform: consumes ``events``, applies the data-quality rules, batches per tenant and
municipality, numbers the notifications in the municipality's chain, builds the KPR_IPL
messages (IPLOS i KPR, XPR(ipl) 56.0.0, in their MsgHeads; split to stay under
``max_message_bytes``), commits each to the ledger and publishes it to ``messages``.

Crash safety: a message's commit (its events batched and numbered, the chain's head moved,
the message built with its documents) is one atomic ledger step that continues the head
the numbering started from, or changes nothing; the chunk is acknowledged only after its
messages are published. A chunk redelivered after a crash finds its events batched and
publishes their unsent messages again; the chain never has a gap, a repeat or a fork.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Final, cast

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kpr_gateway.ledger import (
    BatchCommit,
    BatchMessage,
    ChainCommit,
    ChainLink,
    EventState,
    Ledger,
    LedgerError,
    OriginalInfo,
    RejectionReason,
    ResendRefusedError,
    UnknownMessageError,
    UnsentMessage,
)
from kpr_gateway.messages.daily import DailyMessage, build_daily_messages
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.iplos_kpr import (
    ChainHead,
    MeldingHeader,
    Notification,
    head_after,
    number,
)
from kpr_gateway.messages.shipments import build_shipment
from kpr_gateway.messages.xmlsafe import parse_xml
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
from kpr_gateway.runtime.crash_points import crash_point
from kpr_gateway.tenancy import (
    MeldingProfile,
    TenancyError,
    Tenant,
    TenantFileError,
    TenantsFile,
    kpr_receiver,
    read_pseudonym_secret,
)
from kpr_gateway.transform import corrections
from kpr_gateway.transform.batcher import Batcher, BatchKey, PendingEvent
from kpr_gateway.transform.errors import (
    BuildError,
    CorrectionWaitsError,
    EventUnknownToLedgerError,
    LedgerDownError,
    UnknownTenantError,
)
from kpr_gateway.transform.rules import (
    KnownTestPersons,
    RulesConfigError,
    RuleSet,
    Severity,
    default_rules,
)
from kpr_gateway.transform.settings import TransformSettings

_SETTLED: Final = frozenset(state.value for state in EventState) - {EventState.RECEIVED.value}
"""Refusals that mean an earlier delivery settled the event already."""
_SEVERITY_OF: Final = {
    EventState.REJECTED_INVALID: Severity.REJECT.value,
    EventState.SUPPRESSED_TEST_PERSON: Severity.SUPPRESS.value,
    EventState.NOT_REPORTABLE: Severity.NOT_REPORTABLE.value,
}
"""The findings label of a correction that follows its original's state (as the rules')."""
GATEWAY_VERSION: Final = f"KPR Gateway {version('kpr-gateway-transform')}"
"""``versjonUt``: the program that wrote the message."""
SERVICE_NAME = "transform"


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_events: int
    max_age_seconds: float
    prefetch: int
    max_message_bytes: int = 1_000_000
    max_events_held: int = 20_000


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
        for tenant in tenants.tenants:
            try:
                tenant.require_reporting()
            except TenancyError as exc:  # a start-up error naming the tenant, exit 2
                raise TenantFileError(str(exc)) from exc
        self._http_app: Starlette | None = None
        self._secrets = {tenant.id: read_pseudonym_secret(tenant) for tenant in tenants.tenants}
        self._ledger = ledger
        self._bus = bus
        self._limits = limits
        self._clock = clock
        # One commit at a time per municipality's chain (batches of several EPJ systems of one
        # municipality share it); the ledger refuses a commit that does not continue the head.
        self._chain_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._profiles: dict[tuple[str, str | None], MeldingProfile] = {}
        self._held = 0
        self._released = asyncio.Condition()
        self._flushes: set[asyncio.Task[None]] = set()
        self._batcher = Batcher(
            self._flush,
            max_events=limits.max_events,
            max_age=limits.max_age_seconds,
            max_waiting=limits.prefetch,
        )
        self._events = metrics.counter(
            "events", "Events handled, by tenant and outcome.", ("tenant", "outcome")
        )
        self._batches = metrics.counter(
            "batches", "KPR messages committed, by tenant.", ("tenant",)
        )
        self._findings = metrics.counter(
            "rule_findings",
            "Data-quality findings, by tenant, rule id and severity.",
            ("tenant", "rule", "severity"),
        )
        self._resends = metrics.counter("resends", "KPR messages resent, by tenant.", ("tenant",))

    def register(self) -> None:
        self._bus.subscribe(queues.EVENTS, self.handle_chunk, prefetch=self._limits.prefetch)

    async def start(self) -> None:
        """Nothing of its own to start: batches are flushed by the events that arrive."""

    def http_app(self) -> Starlette | None:
        return self._http_app

    def serve_http(self) -> None:
        """Serve the operator's actions on the HTTP port (no route from outside the cluster;
        health and metrics are on the ops port): ``POST /v1/flush[?tenant=<id>]`` sends what
        this replica holds now instead of waiting for max age;
        ``POST /v1/resend?tenant=<id>&msg_id=<id>`` sends a message's notifications again,
        with their original numbers, in a new message.
        """

        async def flush(request: Request) -> Response:
            tenant_id = request.query_params.get("tenant")
            if tenant_id is not None and tenant_id not in self._tenants:
                return JSONResponse({"error": f"unknown tenant {tenant_id}"}, status_code=404)
            pending = self._batcher.pending_count(tenant_id)
            await self.flush(tenant_id)
            return JSONResponse({"flushed_events": pending})

        async def resend(request: Request) -> Response:
            tenant_id = request.query_params.get("tenant", "")
            msg_id = request.query_params.get("msg_id", "")
            if tenant_id not in self._tenants:
                return JSONResponse({"error": f"unknown tenant {tenant_id}"}, status_code=404)
            try:
                new_msg_id = await self.resend(tenant_id, uuid.UUID(msg_id))
            except ValueError:
                return JSONResponse({"error": "msg_id is not a UUID"}, status_code=400)
            except (ResendRefusedError, UnknownMessageError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            return JSONResponse({"msg_id": msg_id, "resent_as": str(new_msg_id)})

        self._http_app = Starlette(
            routes=[
                Route("/v1/flush", flush, methods=["POST"]),
                Route("/v1/resend", resend, methods=["POST"]),
            ]
        )

    async def flush(self, tenant_id: str | None = None) -> None:
        """The operator's flush: send what is pending now instead of waiting for max age."""
        await self._batcher.flush(tenant_id)

    async def close(self) -> None:
        await self._batcher.close()

    async def handle_chunk(self, delivery: Delivery) -> None:
        """Admit the chunk once the events held (parsed, not yet in a published message) are
        under ``max_events_held``: memory follows that bound, not prefetch times chunk size.
        A chunk is parsed only when admitted (its body is a third of its parsed size)."""
        await self._admit()
        chunk = EventChunk.from_body(delivery.body)
        self._held += len(chunk.events)
        try:
            await self._handle(chunk)
        finally:
            self._held -= len(chunk.events)
            async with self._released:
                self._released.notify_all()

    async def _admit(self) -> None:
        async with self._released:
            while self._held >= self._limits.max_events_held:
                await self._released.wait()

    async def _handle(self, chunk: EventChunk) -> None:
        tenant = self._tenants.get(chunk.tenant_id)
        if tenant is None:
            raise UnknownTenantError(f"chunk {chunk.chunk_id} names unknown tenant")
        settled: dict[EventState, list[str]] = defaultdict(list)
        reasons: dict[str, list[RejectionReason]] = {}
        to_batch: dict[BatchKey, list[PendingEvent]] = {}
        span_context = trace.get_current_span().get_span_context()
        # traceparent -> its span: a chunk's events mostly share a few requests' spans.
        own_spans: dict[str, SpanContext] = {}
        originals = await self._originals(tenant.id, chunk.events)
        earlier: dict[uuid.UUID, tuple[Notification, EventState | None]] = {}
        for accepted in chunk.events:
            event = accepted.event
            event_id = str(accepted.event_id)
            state, why = self._judge(tenant, event, originals, earlier)
            earlier[event.event_id] = (event, state)
            if state is None:
                profile = self._profile(tenant, accepted.client_id)
                key: BatchKey = (tenant.id, event.municipality_number, profile)
                span = _event_span(accepted, span_context, own_spans)
                to_batch.setdefault(key, []).append(PendingEvent(accepted, event, span, event_id))
            else:
                settled[state].append(event_id)
                reasons[event_id] = list(why)
        for state, event_ids in settled.items():
            try:
                await self._ledger.settle_events(
                    tenant.id, event_ids, state, trace_id=current_trace_id(), reasons=reasons
                )
            except LedgerError as exc:
                raise LedgerDownError(str(exc)) from exc
            self._events.labels(tenant=tenant.id, outcome=state.value).inc(len(event_ids))
        adding = asyncio.gather(*(self._batcher.add(key, items) for key, items in to_batch.items()))
        if self._held >= self._limits.max_events_held:
            # Nothing more is let in until something is sent: send what is pending now rather
            # than at max age. A task scheduled after the adds', so it finds their events.
            flushing = asyncio.create_task(self._batcher.flush())
            self._flushes.add(flushing)
            flushing.add_done_callback(self._flushes.discard)
        await adding

    def _judge(
        self,
        tenant: Tenant,
        event: Notification,
        originals: dict[str, OriginalInfo],
        earlier: dict[uuid.UUID, tuple[Notification, EventState | None]],
    ) -> tuple[EventState | None, Sequence[RejectionReason]]:
        verdict = self._rules.check(event, tenant)
        for finding in verdict.findings:
            self._findings.labels(
                tenant=tenant.id, rule=finding.rule, severity=finding.severity.value
            ).inc()
        if verdict.state is not None and not (
            verdict.state is EventState.NOT_REPORTABLE and event.corrects is not None
        ):
            return verdict.state, verdict.reasons
        if event.corrects is None:
            return None, ()
        judged = corrections.judge(event, originals, earlier)
        if verdict.state is EventState.NOT_REPORTABLE and judged.state is None:
            # KPR has the original: a correction that moves it to a service type this release
            # leaves out is still sent, or KPR would keep the original as it was.
            return None, ()
        if judged.state is not None:
            severity = _SEVERITY_OF[judged.state]
            for reason in judged.reasons:
                self._findings.labels(tenant=tenant.id, rule=reason.rule, severity=severity).inc()
        return judged.state, judged.reasons

    async def _originals(
        self, tenant_id: str, events: Sequence[AcceptedEvent]
    ) -> dict[str, OriginalInfo]:
        wanted = corrections.originals_to_look_up(a.event for a in events)
        if not wanted:
            return {}
        try:
            return dict(await self._ledger.originals(tenant_id, wanted))
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc

    def _profile(self, tenant: Tenant, client_id: str | None) -> MeldingProfile:
        # Read once per client: the tenants file does not change while the service runs.
        key = (tenant.id, client_id)
        profile = self._profiles.get(key)
        if profile is None:
            # A client no longer in the tenants file gets the tenant's default EPJ system
            # (melding_profile's own rule; require_reporting made sure there is one).
            profile = self._profiles[key] = tenant.melding_profile(client_id)
        return profile

    async def _flush(self, key: BatchKey, items: Sequence[PendingEvent]) -> None:
        tenant_id, municipality_number, profile = key
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
            lock = self._chain_locks.setdefault((tenant_id, municipality_number), asyncio.Lock())
            async with lock:
                await self._commit_and_publish(tenant, municipality_number, profile, unique)

    async def _commit_and_publish(
        self,
        tenant: Tenant,
        municipality_number: str,
        profile: MeldingProfile,
        items: list[PendingEvent],
    ) -> None:
        """Number, build, commit and publish, message by message; on a refused commit, drop
        (or fail) the refused events and number what is left again from the ledger's head."""
        while items:
            order = corrections.in_chain_order([item.event for item in items])
            items = [items[i] for i in order]
            head = await self._chain_head(tenant.id, municipality_number)
            messages = await asyncio.to_thread(
                self._build, tenant, municipality_number, profile, head, items
            )
            by_id = {item.event_id: item for item in items}
            done: set[str] = set()
            for message in messages:
                part = [by_id[str(n.notification.event_id)] for n in message.numbered]
                commit = await self._commit(tenant.id, municipality_number, head, message, part)
                if commit.committed:
                    crash_point("transform.after_commit")
                    await self._publish_daily(tenant.id, message)
                    self._batches.labels(tenant=tenant.id).inc()
                    self._events.labels(tenant=tenant.id, outcome="batched").inc(len(part))
                    for item in part:
                        item.succeed()
                    done.update(item.event_id for item in part)
                    head = head_after(message.numbered, head)
                    continue
                if commit.refused:
                    await self._settle_refused(tenant.id, part, commit.refused)
                    done.update(commit.refused)
                break  # the chain moved or events were refused: number the rest again
            items = [item for item in items if item.event_id not in done]

    async def _chain_head(self, tenant_id: str, municipality_number: str) -> ChainHead:
        try:
            return await self._ledger.chain_head(tenant_id, municipality_number)
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc

    async def _commit(
        self,
        tenant_id: str,
        municipality_number: str,
        head: ChainHead,
        message: DailyMessage,
        part: list[PendingEvent],
    ) -> BatchCommit:
        # The ids as the pending events already hold them as text (str(UUID) per id and
        # link cost more than the rest of the links); previous = the link before.
        links: list[ChainLink] = []
        previous = str(head.guid)
        for item, numbered in zip(part, message.numbered, strict=True):
            corrects = item.event.corrects
            links.append(
                ChainLink(
                    event_id=item.event_id,
                    seq=numbered.seq,
                    previous=previous,
                    status=item.event.status._value_,
                    corrects=str(corrects) if corrects is not None else None,
                )
            )
            previous = item.event_id
        shipment = message.shipment
        try:
            return await self._ledger.commit_batch(
                tenant_id,
                batch_id=str(message.batch_id),
                event_ids=[link.event_id for link in links],
                messages=[
                    BatchMessage(
                        str(shipment.msg_id),
                        shipment.msg_type,
                        shipment.document,
                        kpr_document=message.kpr_document,
                    )
                ],
                trace_id=current_trace_id(),
                traceparent=current_traceparent(),
                chain=ChainCommit(municipality=municipality_number, expected=head, links=links),
            )
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc

    async def _settle_refused(
        self, tenant_id: str, part: list[PendingEvent], refused: dict[str, str]
    ) -> None:
        """Events the commit refused: settled by an earlier delivery (publish what it built),
        unknown to the ledger (parked), or a correction whose original is not numbered yet
        (its chunk is retried later)."""
        await self._republish_unsent(tenant_id, list(refused))
        for item in part:
            state = refused.get(item.event_id)
            if state == "missing":
                item.fail(EventUnknownToLedgerError(f"event {item.event_id} is not in the ledger"))
            elif state == "original_not_sent":
                item.fail(
                    CorrectionWaitsError(
                        f"event {item.event_id} corrects an original not numbered yet"
                    )
                )
            elif state in _SETTLED:
                item.succeed()
            elif state is not None:  # a refusal this code does not know: never acked blindly
                item.fail(BuildError(f"event {item.event_id} refused by the ledger: {state}"))

    def _build(
        self,
        tenant: Tenant,
        municipality_number: str,
        profile: MeldingProfile,
        head: ChainHead,
        items: list[PendingEvent],
    ) -> list[DailyMessage]:
        try:
            numbered, _ = number(head, (item.event for item in items), self._secrets[tenant.id])
            return build_daily_messages(
                header=MeldingHeader(
                    municipality_number=municipality_number,
                    system=profile.system,
                    gateway_version=GATEWAY_VERSION,
                    contacts=profile.contacts,
                ),
                numbered=numbered,
                sender=tenant.sender_organisation(),
                receiver=kpr_receiver(tenant.environment),
                now=self._clock(),
                max_bytes=self._limits.max_message_bytes,
            )
        except MessagesError as exc:
            raise BuildError(f"batch for tenant {tenant.id} cannot be built: {exc}") from exc

    async def resend(self, tenant_id: str, msg_id: uuid.UUID) -> uuid.UUID:
        """Send a message's notifications again, as they were (same numbers), in a new
        KPR_IPL with a new MsgId; the ledger records it as a resend of the first."""
        tenant = self._tenants[tenant_id]
        try:
            record = await self._ledger.get_message(tenant_id, str(msg_id))
            kpr_document = await self._ledger.kpr_document(tenant_id, str(msg_id))
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc
        if record is None or kpr_document is None:
            raise UnknownMessageError(f"tenant {tenant_id}: no resendable message {msg_id}")
        cut_off = await self._cut_off_resend(tenant_id, str(msg_id), record.event_ids)
        if cut_off is not None:
            return cut_off
        new_msg_id = uuid.uuid4()
        shipment = build_shipment(
            sender=tenant.sender_organisation(),
            receiver=kpr_receiver(tenant.environment),
            melding=parse_xml(kpr_document),
            msg_id=new_msg_id,
            now=self._clock(),
        )
        try:
            await self._ledger.resend_message(
                tenant_id,
                str(msg_id),
                new_msg_id=str(new_msg_id),
                document=shipment.document,
                trace_id=current_trace_id(),
                traceparent=current_traceparent(),
            )
        except ResendRefusedError:
            raise
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc
        crash_point("transform.after_resend_commit")
        await self._publish_all(
            [
                _built_message(
                    tenant_id,
                    msg_id=str(new_msg_id),
                    msg_type=shipment.msg_type,
                    batch_id=record.batch_id,
                    event_ids=[uuid.UUID(e) for e in record.event_ids],
                    document=shipment.document,
                )
            ]
        )
        self._resends.labels(tenant=tenant_id).inc()
        return new_msg_id

    async def _publish_daily(self, tenant_id: str, message: DailyMessage) -> None:
        shipment = message.shipment
        await self._publish_all(
            [
                _built_message(
                    tenant_id,
                    msg_id=str(shipment.msg_id),
                    msg_type=shipment.msg_type,
                    batch_id=str(message.batch_id),
                    event_ids=[n.notification.event_id for n in message.numbered],
                    document=shipment.document,
                )
            ]
        )

    async def _cut_off_resend(
        self, tenant_id: str, msg_id: str, event_ids: list[str]
    ) -> uuid.UUID | None:
        """A resend whose ledger step was done but whose publish was not (a crash, the broker
        down) left its message ``built``: asked again, publish that one rather than record a
        further copy, which would leave the first ``built`` for ever."""
        try:
            unsent = await self._ledger.unsent_messages(tenant_id, event_ids)
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc
        waiting = [m for m in unsent if m.msg_id != msg_id]
        if not waiting:
            return None
        await self._publish_unsent(tenant_id, waiting)
        return uuid.UUID(waiting[-1].msg_id)

    async def _republish_unsent(self, tenant_id: str, event_ids: list[str]) -> None:
        try:
            unsent = await self._ledger.unsent_messages(tenant_id, event_ids)
        except LedgerError as exc:
            raise LedgerDownError(str(exc)) from exc
        await self._publish_unsent(tenant_id, unsent)

    async def _publish_unsent(self, tenant_id: str, unsent: Iterable[UnsentMessage]) -> None:
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
            max_message_bytes=settings.max_message_bytes,
            max_events_held=settings.max_events_held,
        ),
        rules=RuleSet(test_persons=test_persons, reported_service_types=settings.reported_types()),
    )
    transform.serve_http()
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
