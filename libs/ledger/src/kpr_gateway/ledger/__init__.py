"""The Redis ledger: events and KPR messages, their states and history (DESIGN.md section 2)."""

from kpr_gateway.ledger.annual import (
    AnnualConflictError,
    AnnualMessage,
    AnnualSubmissions,
    Discipline,
    DisciplineAnswer,
    NewAnnualSubmission,
    UnpublishedMessage,
)
from kpr_gateway.ledger.chain import ChainCommit, ChainLink, ChainReport, OriginalInfo
from kpr_gateway.ledger.connection import redis_from_url
from kpr_gateway.ledger.errors import (
    ChainBrokenError,
    LedgerError,
    LedgerUnavailableError,
    ResendRefusedError,
    UnknownMessageError,
)
from kpr_gateway.ledger.keys import KeySpace
from kpr_gateway.ledger.ledger import (
    DEFAULT_RETENTION,
    BatchCommit,
    BatchMessage,
    Ledger,
    NewEvent,
    UnsentMessage,
)
from kpr_gateway.ledger.records import (
    AnnualSubmissionRecord,
    EventRecord,
    MessageRecord,
    ReceiptError,
    ReceiptMatch,
    ReceiptOutcome,
    Registration,
    RegistrationOutcome,
    RejectionReason,
    Transition,
)
from kpr_gateway.ledger.states import (
    AnnualState,
    AnnualStatus,
    EventState,
    MessageState,
    annual_status,
    combined_message_state,
)
from kpr_gateway.ledger.webhooks import (
    DeliveryState,
    EventOutcome,
    MessageEvents,
    WebhookDeliveries,
    WebhookDelivery,
)

__all__ = [
    "DEFAULT_RETENTION",
    "AnnualConflictError",
    "AnnualMessage",
    "AnnualState",
    "AnnualStatus",
    "AnnualSubmissionRecord",
    "AnnualSubmissions",
    "BatchCommit",
    "BatchMessage",
    "ChainBrokenError",
    "ChainCommit",
    "ChainLink",
    "ChainReport",
    "DeliveryState",
    "Discipline",
    "DisciplineAnswer",
    "EventOutcome",
    "EventRecord",
    "EventState",
    "KeySpace",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "MessageEvents",
    "MessageRecord",
    "MessageState",
    "NewAnnualSubmission",
    "NewEvent",
    "OriginalInfo",
    "ReceiptError",
    "ReceiptMatch",
    "ReceiptOutcome",
    "Registration",
    "RegistrationOutcome",
    "RejectionReason",
    "ResendRefusedError",
    "Transition",
    "UnknownMessageError",
    "UnpublishedMessage",
    "UnsentMessage",
    "WebhookDeliveries",
    "WebhookDelivery",
    "annual_status",
    "combined_message_state",
    "redis_from_url",
]
