"""The JSON body a webhook receives: one KPR message's receipt and the client's own events.

The contract is documented in the service's README; field names only grow (a receiver
ignores fields it does not know).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from kpr_gateway.ledger import EventOutcome, MessageRecord
from kpr_gateway.pipeline.contracts import ReceiptNotice, ReceiptOutcome
from kpr_gateway.webhooks.signing import delivery_id


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReceiptErrorBody(_Body):
    """One error of the AppRec (code, code system, text, reference), or the transport
    error's condition and description."""

    code: str
    system: str | None = None
    text: str | None = None
    ref: str | None = None


class EventBody(_Body):
    event_id: str
    status: str
    """What ``GET /v1/events/{event_id}`` shows: the outcome of its KPR messages."""


class ReceiptWebhook(_Body):
    type: Literal["receipt"] = "receipt"
    delivery_id: UUID
    """Stable across retries: deduplicate on it (also sent as ``KPRGW-Delivery``)."""
    tenant_id: str
    client_id: str
    msg_id: UUID
    msg_type: str
    outcome: ReceiptOutcome
    status_code: Literal[1, 2, 3] | None
    """The AppRec status (1 OK, 2 rejected, 3 OK with errors); None for a transport error."""
    errors: list[ReceiptErrorBody]
    received_at: datetime
    events: list[EventBody]
    """This client's events in the message (the message may carry other clients' too)."""


def receipt_body(
    notice: ReceiptNotice,
    message: MessageRecord,
    client_id: str,
    events: Sequence[EventOutcome],
) -> bytes:
    """The body for one client, as sent and signed (compact JSON, UTF-8)."""
    return (
        ReceiptWebhook(
            delivery_id=delivery_id(notice.msg_id, client_id),
            tenant_id=notice.tenant_id,
            client_id=client_id,
            msg_id=notice.msg_id,
            msg_type=message.msg_type,
            outcome=notice.outcome,
            status_code=notice.status_code,
            errors=[
                ReceiptErrorBody(code=e.code, system=e.system, text=e.text, ref=e.ref)
                for e in notice.errors
            ],
            received_at=notice.received_at,
            events=[EventBody(event_id=e.event_id, status=e.status) for e in events],
        )
        .model_dump_json()
        .encode()
    )
