"""What the ledger returns: plain read models, safe to serialise into API answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kpr_gateway.ledger.states import AnnualState, AnnualStatus, EventState, MessageState


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Transition(_Model):
    state: str
    at: datetime
    trace_id: str | None = None
    detail: dict[str, Any] | None = None


class RejectionReason(_Model):
    """Why an event was not sent: rule id, field and a reason free of personal data."""

    rule: str
    field: str | None = None
    reason: str


class ReceiptError(_Model):
    code: str
    system: str | None = None
    text: str | None = None
    ref: str | None = None


class ReceiptOutcome(_Model):
    """What came back for a KPR message: an AppRec, or a transport error from the bus."""

    kind: str = Field(description="'apprec' or 'transport_error'")
    received_at: datetime
    status_code: int | None = None
    status_text: str | None = None
    errors: list[ReceiptError] = Field(default_factory=list)
    apprec_id: str | None = None
    error_condition: str | None = None
    error_description: str | None = None


class MessageRecord(_Model):
    tenant_id: str
    msg_id: str
    msg_type: str
    batch_id: str
    event_ids: list[str]
    state: MessageState
    trace_id: str | None
    traceparent: str | None
    receipt: ReceiptOutcome | None
    history: list[Transition]
    resend_of: str | None = Field(
        default=None, description="The message this one sends again (same events, same numbers)."
    )
    submission_id: str | None = Field(
        default=None, description="The annual submission it belongs to (annual messages only)."
    )
    environment: str | None = Field(
        default=None,
        description=(
            "The receiver's environment an annual message was addressed to (validation for a "
            "test submission to KPR Validering); None: the tenant's own (daily messages)."
        ),
    )


class EventRecord(_Model):
    tenant_id: str
    event_id: str
    state: EventState = Field(description="The event's own state as stored.")
    status: str = Field(
        description=(
            "What the EPJ sees: the event's state, or once batched, that of its messages; "
            "not_accepted for one registered whose POST was answered 503 (send it again)."
        )
    )
    content_hash: str
    accepted: bool = Field(description="The event's publish was confirmed by the broker.")
    received_at: datetime
    trace_id: str | None
    batch_id: str | None
    msg_ids: list[str]
    reasons: list[RejectionReason]
    history: list[Transition]
    messages: list[MessageRecord]
    seq: int | None = Field(default=None, description="notifikasjonLopeNr, once numbered.")
    previous: str | None = Field(
        default=None, description="notifikasjonForrigeGUID: the chain's previous event id."
    )
    corrects: str | None = Field(default=None, description="The original's event id (M, C).")
    municipality: str | None = Field(default=None, description="The chain it was numbered in.")
    client_id: str | None = Field(
        default=None,
        description="The EPJ client that submitted it (unset for events registered before "
        "the ledger kept it); its webhook is told the event's receipts.",
    )


class RegistrationOutcome(StrEnum):
    NEW = "new"
    REPEAT = "repeat"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class Registration:
    """What registering one event found (a plain class: intake makes one per event)."""

    event_id: str
    outcome: RegistrationOutcome
    state: EventState
    accepted: bool


class ReceiptMatch(StrEnum):
    MATCHED = "matched"
    UNKNOWN_MESSAGE = "unknown_message"
    ALREADY_CLOSED = "already_closed"


class AnnualSubmissionRecord(_Model):
    """An annual IPLOS 3.7 submission and its two messages (KPR_IPL decides its status)."""

    tenant_id: str
    submission_id: str
    year: int
    environment: str
    state: AnnualState = Field(description="As stored: sent or refused.")
    status: AnnualStatus = Field(
        description="What the municipality sees: refused, else derived from the KPR_IPL."
    )
    created_at: datetime
    report: dict[str, Any] = Field(
        description="The check's report: sendable, persons, findings (pePeIDs only)."
    )
    refusal_reason: str | None = None
    persons: int
    replace_reason: str | None = None
    replaces: str | None = Field(
        default=None, description="The acknowledged submission this one replaced."
    )
    trace_id: str | None = None
    ipl_msg_id: str | None = None
    ide_msg_id: str | None = None
    ipl: MessageRecord | None = None
    ide: MessageRecord | None = None
