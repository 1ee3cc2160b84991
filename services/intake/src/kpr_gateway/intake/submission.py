"""Accepting events: ledger first, then the broker's confirm, then the answer.

An event is ``accepted`` only when it is in the ledger and its publish to the
``events`` queue was confirmed. A repeat of an event id with the same content
answers as the first time; if the first attempt never reached the broker, the
repeat publishes it (transform skips events the ledger already settled, so a
double publish never builds a message twice).

Group commit: the events of requests that arrive while earlier ones are being committed wait
and are then committed together, per tenant with one ledger registration, one confirmed
publish of one chunk and one ledger update, however many requests they came in. Under load
that divides the round trips (the larger part of a single event's cost) by the group's size;
alone, a request is committed at once, as before. Every request is still answered only
after its own events are in the ledger and confirmed by the broker.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan

from kpr_gateway.intake.errors import UnavailableError
from kpr_gateway.ledger import (
    EventState,
    Ledger,
    LedgerError,
    NewEvent,
    RegistrationOutcome,
)
from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.observability.tracing import span_context_of
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import EncodedEvent, chunk_body
from kpr_gateway.pipeline.errors import PipelineError
from kpr_gateway.runtime.crash_points import crash_point


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: str
    state: EventState
    repeat: bool


@dataclass(frozen=True, slots=True)
class Conflicting:
    event_id: str


SubmitOutcome = Accepted | Conflicting

_log = logging.getLogger(__name__)
_UNFORESEEN = "the submission could not be committed; try again"


def canonical_json(event: Notification) -> bytes:
    """The event's canonical JSON: what its content hash is of, and what its chunk carries."""
    return event.model_dump_json().encode()


def content_hash(event_json: bytes) -> str:
    """Digest of the event's canonical JSON: the same event in another spelling is a repeat."""
    return hashlib.sha256(event_json).hexdigest()


@dataclass(frozen=True, slots=True)
class Submission:
    """One request's events, with the trace of the request that brought them."""

    tenant_id: str
    events: Sequence[Notification]
    trace_id: str
    traceparent: str | None = None
    client_id: str | None = None
    """The EPJ client that sent them: its EPJ system names their KPR message."""


@dataclass(slots=True)
class _Waiting:
    submission: Submission
    answer: asyncio.Future[list[SubmitOutcome]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Submitter:
    """Registers, publishes and marks accepted; concurrent requests are committed together.

    At most ``max_groups`` groups are being committed at any time; what arrives meanwhile
    waits for the next group (at most ``chunk_events`` events each, so one chunk). A
    submission of ``chunk_events`` events or more is a group of its own.
    """

    def __init__(
        self,
        ledger: Ledger,
        bus: Bus,
        *,
        chunk_events: int,
        max_groups: int = 2,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self._ledger = ledger
        self._bus = bus
        self._chunk_events = chunk_events
        self._max_groups = max_groups
        self._queue: deque[_Waiting] = deque()
        self._groups: set[asyncio.Task[None]] = set()
        self._tracer = trace.get_tracer("kpr_gateway.intake", tracer_provider=tracer_provider)

    async def submit(
        self,
        tenant_id: str,
        events: Sequence[Notification],
        *,
        trace_id: str,
        traceparent: str | None = None,
        client_id: str | None = None,
    ) -> list[SubmitOutcome]:
        submission = Submission(tenant_id, events, trace_id, traceparent, client_id)
        if len(events) >= self._chunk_events:
            return (await self._commit_tenant(tenant_id, [submission]))[0]
        waiting = _Waiting(submission)
        self._queue.append(waiting)
        self._start_groups()
        # shield: a request that goes away (client gone) must not cancel its group's commit
        return await asyncio.shield(waiting.answer)

    def _start_groups(self) -> None:
        while self._queue and len(self._groups) < self._max_groups:
            group = [self._queue.popleft()]
            size = len(group[0].submission.events)
            while self._queue and size + len(self._queue[0].submission.events) <= (
                self._chunk_events
            ):
                size += len(self._queue[0].submission.events)
                group.append(self._queue.popleft())
            # A context of its own: the group belongs to none of its requests (it would
            # otherwise carry the trace of whichever request started this chain of groups).
            task = asyncio.create_task(self._commit_group(group), context=contextvars.Context())
            self._groups.add(task)
            task.add_done_callback(functools.partial(self._group_done, group))

    def _group_done(self, group: list[_Waiting], task: asyncio.Task[None]) -> None:
        self._groups.discard(task)
        for waiting in group:  # only if the task never got to answer (cancelled at shutdown)
            if not waiting.answer.done():
                waiting.answer.set_exception(UnavailableError(_UNFORESEEN))
        self._start_groups()

    async def _commit_group(self, group: list[_Waiting]) -> None:
        """Per tenant and EPJ client (the ledger keeps each event's client), in parallel; the
        span continues the first request's trace and links the others (as transform's batch
        span does)."""
        by_sender: dict[tuple[str, str | None], list[_Waiting]] = defaultdict(list)
        for waiting in group:
            by_sender[waiting.submission.tenant_id, waiting.submission.client_id].append(waiting)
        spans = [
            context
            for w in group
            if w.submission.traceparent is not None
            and (context := span_context_of(w.submission.traceparent)) is not None
        ]
        parent = trace.set_span_in_context(NonRecordingSpan(spans[0])) if spans else None
        with self._tracer.start_as_current_span(
            "commit submissions",
            context=parent,
            links=[Link(context) for context in spans[1:]],
            attributes={"kprgw.group.requests": len(group)},
        ):
            results = await asyncio.gather(
                *(self._answer(sender[0], waiting) for sender, waiting in by_sender.items()),
                return_exceptions=True,
            )
        for result in results:
            if isinstance(result, BaseException):
                # its requests were answered 503; the type only (texts may quote the input)
                _log.error("committing submissions failed: %s", type(result).__name__)

    async def _answer(self, tenant_id: str, group: list[_Waiting]) -> None:
        try:
            answers = await self._commit_tenant(tenant_id, [w.submission for w in group])
        except BaseException as exc:
            # Each request raises its own error (one shared instance would collect every
            # request's traceback); anything unforeseen answers 503 and is raised here too.
            message = exc.message if isinstance(exc, UnavailableError) else _UNFORESEEN
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.set_exception(UnavailableError(message))
            if not isinstance(exc, UnavailableError):
                raise
            return
        for waiting, outcomes in zip(group, answers, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(outcomes)

    async def _commit_tenant(
        self, tenant_id: str, submissions: Sequence[Submission]
    ) -> list[list[SubmitOutcome]]:
        """One registration, one publish, one update for these submissions of one tenant
        and one EPJ client."""
        # Each event written once: its hash is of these bytes, and its chunk carries them.
        written = [[canonical_json(e) for e in s.events] for s in submissions]
        new_events = [
            NewEvent(str(e.event_id), content_hash(text), s.trace_id)
            for s, texts in zip(submissions, written, strict=True)
            for e, text in zip(s.events, texts, strict=True)
        ]
        try:
            registrations = iter(
                await self._ledger.register_events(
                    tenant_id,
                    new_events,
                    trace_id=submissions[0].trace_id,
                    client_id=submissions[0].client_id,
                )
            )
        except LedgerError as exc:
            raise UnavailableError("the ledger is unavailable; try again") from exc

        to_publish: dict[str, EncodedEvent] = {}
        received_at = datetime.now(UTC)
        answers: list[list[SubmitOutcome]] = []
        for submission, texts in zip(submissions, written, strict=True):
            outcomes: list[SubmitOutcome] = []
            for event, text in zip(submission.events, texts, strict=True):
                registration = next(registrations)
                event_id = registration.event_id
                if registration.outcome is RegistrationOutcome.CONFLICT:
                    outcomes.append(Conflicting(event_id))
                    continue
                if not registration.accepted and event_id not in to_publish:
                    to_publish[event_id] = EncodedEvent(
                        event_id=event.event_id,
                        event_json=text,
                        client_id=submission.client_id,
                        trace_id=submission.trace_id,
                        traceparent=submission.traceparent,
                    )
                outcomes.append(
                    Accepted(
                        event_id,
                        registration.state,
                        repeat=registration.outcome is RegistrationOutcome.REPEAT,
                    )
                )
            answers.append(outcomes)
        if to_publish:
            crash_point("intake.after_register")
            await self._publish(tenant_id, received_at, list(to_publish.values()))
            crash_point("intake.after_publish")
            try:
                await self._ledger.mark_accepted(tenant_id, to_publish.keys())
            except LedgerError as exc:
                # Published but not marked: a repeat publishes again and transform skips it.
                raise UnavailableError("the ledger is unavailable; try again") from exc
        return answers

    async def _publish(
        self, tenant_id: str, received_at: datetime, events: list[EncodedEvent]
    ) -> None:
        """Queue ``events``: the accepted events of one tenant, ``chunk_events`` per chunk
        (``EventChunk`` bodies, written from the events' JSON)."""
        chunks = [
            (uuid.uuid4(), events[start : start + self._chunk_events])
            for start in range(0, len(events), self._chunk_events)
        ]
        try:
            await asyncio.gather(
                *(
                    self._bus.publish(
                        queues.EVENTS,
                        chunk_body(tenant_id, chunk_id, received_at, part),
                        message_id=str(chunk_id),
                    )
                    for chunk_id, part in chunks
                )
            )
        except PipelineError as exc:
            raise UnavailableError("the message broker did not confirm; try again") from exc
