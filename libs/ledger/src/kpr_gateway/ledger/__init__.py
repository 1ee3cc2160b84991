"""The Redis ledger: events and KPR messages, their states and history (DESIGN.md section 2)."""

from kpr_gateway.ledger.chain import ChainCommit, ChainLink, ChainReport, OriginalInfo
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
from kpr_gateway.ledger.states import EventState, MessageState, combined_message_state

__all__ = [
    "DEFAULT_RETENTION",
    "BatchCommit",
    "BatchMessage",
    "ChainBrokenError",
    "ChainCommit",
    "ChainLink",
    "ChainReport",
    "EventRecord",
    "EventState",
    "KeySpace",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "MessageRecord",
    "MessageState",
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
    "UnsentMessage",
    "combined_message_state",
]
