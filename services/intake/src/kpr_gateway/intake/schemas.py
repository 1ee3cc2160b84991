"""The API's answers, as documented in the OpenAPI description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from kpr_gateway.ledger import EventRecord, MessageRecord, WebhookDelivery


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


class MessageWebhooks(BaseModel):
    """What became of telling the event's EPJ client the receipt of one of its messages."""

    msg_id: str
    deliveries: list[WebhookDelivery] = Field(
        description="To the webhook of the client that submitted the event (none when it has "
        "no webhook, or before the receipt came)."
    )


class EventStatus(BaseModel):
    """An event's state history; once batched, the state of its KPR messages and AppRecs, and
    per message the webhook deliveries of its receipt."""

    event: EventRecord
    webhooks: list[MessageWebhooks] = Field(
        default_factory=list, description="Per KPR message that carried the event."
    )

    @classmethod
    def of(
        cls, record: EventRecord, deliveries: Mapping[str, list[WebhookDelivery]] | None = None
    ) -> EventStatus:
        """``deliveries``: per message id, its deliveries to every client; the event shows
        those to its own client (the others carried other events)."""
        shown = [
            MessageWebhooks(
                msg_id=msg_id,
                deliveries=[
                    d for d in (deliveries or {}).get(msg_id, []) if d.client_id == record.client_id
                ],
            )
            for msg_id in record.msg_ids
        ]
        return cls(event=record, webhooks=shown)


class MessageStatus(BaseModel):
    message: MessageRecord
