"""The API's answers, as documented in the OpenAPI description."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from kpr_gateway.ledger import EventRecord, MessageRecord


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable code, e.g. invalid_event, conflict.")
    message: str
    details: list[dict[str, Any]] = Field(
        default_factory=list, description="Field-level reasons: {field, reason}."
    )


class EventAccepted(BaseModel):
    event_id: str
    status: str = Field(description="The event's state in the ledger, 'received' when new.")
    repeat: bool = Field(description="True when this event id was submitted before.")
    trace_id: str | None = None
    links: dict[str, str]


class BatchItem(BaseModel):
    index: int = Field(description="Position of the event in the submitted batch, from 0.")
    event_id: str | None
    status_code: int = Field(description="202 accepted, 409 conflict, 422 invalid.")
    status: str
    repeat: bool = Field(
        default=False, description="True when this event id was accepted before (idempotent)."
    )
    errors: list[dict[str, Any]] = Field(default_factory=list)


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    trace_id: str | None = None
    results: list[BatchItem]


class EventStatus(BaseModel):
    """An event's state history; once batched, the state of its KPR messages and AppRecs."""

    event: EventRecord

    @classmethod
    def of(cls, record: EventRecord) -> EventStatus:
        return cls(event=record)


class MessageStatus(BaseModel):
    message: MessageRecord
