"""Accepting events: ledger first, then the broker's confirm, then the answer.

An event is ``accepted`` only when it is in the ledger and its publish to the
``events`` queue was confirmed. A repeat of an event id with the same content
answers as the first time; if the first attempt never reached the broker, the
repeat publishes it (transform skips events the ledger already settled, so a
double publish never builds a message twice).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kpr_gateway.intake.errors import UnavailableError
from kpr_gateway.ledger import (
    EventState,
    Ledger,
    LedgerError,
    NewEvent,
    RegistrationOutcome,
)
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import AcceptedEvent, EventChunk
from kpr_gateway.pipeline.errors import PipelineError


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: str
    state: EventState
    repeat: bool


@dataclass(frozen=True, slots=True)
class Conflicting:
    event_id: str


SubmitOutcome = Accepted | Conflicting


def content_hash(event: KttEvent) -> str:
    """Digest of the event's canonical JSON: the same event in another spelling is a repeat."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


class Submitter:
    def __init__(self, ledger: Ledger, bus: Bus, *, chunk_events: int) -> None:
        self._ledger = ledger
        self._bus = bus
        self._chunk_events = chunk_events

    async def submit(
        self, tenant_id: str, events: Sequence[KttEvent], *, trace_id: str
    ) -> list[SubmitOutcome]:
        new_events = [NewEvent(str(e.event_id), content_hash(e)) for e in events]
        try:
            registrations = await self._ledger.register_events(
                tenant_id, new_events, trace_id=trace_id
            )
        except LedgerError as exc:
            raise UnavailableError("the ledger is unavailable; try again") from exc

        to_publish: dict[str, KttEvent] = {}
        outcomes: list[SubmitOutcome] = []
        for event, registration in zip(events, registrations, strict=True):
            event_id = registration.event_id
            if registration.outcome is RegistrationOutcome.CONFLICT:
                outcomes.append(Conflicting(event_id))
                continue
            if not registration.accepted:
                to_publish.setdefault(event_id, event)
            outcomes.append(
                Accepted(
                    event_id,
                    registration.state,
                    repeat=registration.outcome is RegistrationOutcome.REPEAT,
                )
            )
        if to_publish:
            await self._publish(tenant_id, list(to_publish.values()), trace_id)
            try:
                await self._ledger.mark_accepted(tenant_id, to_publish.keys())
            except LedgerError as exc:
                # Published but not marked: a repeat publishes again and transform skips it.
                raise UnavailableError("the ledger is unavailable; try again") from exc
        return outcomes

    async def _publish(self, tenant_id: str, events: list[KttEvent], trace_id: str) -> None:
        received_at = datetime.now(UTC)
        chunks = [
            EventChunk(
                tenant_id=tenant_id,
                chunk_id=uuid.uuid4(),
                events=[
                    AcceptedEvent(
                        event_id=event.event_id,
                        received_at=received_at,
                        event=event.model_dump(mode="json"),
                        trace_id=trace_id,
                    )
                    for event in events[start : start + self._chunk_events]
                ],
            )
            for start in range(0, len(events), self._chunk_events)
        ]
        try:
            await asyncio.gather(
                *(
                    self._bus.publish(
                        queues.EVENTS, chunk.to_body(), message_id=str(chunk.chunk_id)
                    )
                    for chunk in chunks
                )
            )
        except PipelineError as exc:
            raise UnavailableError("the message broker did not confirm; try again") from exc
