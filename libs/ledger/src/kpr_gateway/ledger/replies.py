"""What the ledger writes into and reads back from Redis, the same way in every module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kpr_gateway.ledger.records import Transition
from kpr_gateway.ledger.states import EventState, MessageState


def text(value: bytes | str) -> str:
    """A reply as text (the client answers bytes: decode_responses=False)."""
    return value.decode() if isinstance(value, bytes) else value


def history_entry(
    state: EventState | MessageState | str,
    at: datetime,
    trace_id: str | None,
    detail: dict[str, Any] | None = None,
) -> str:
    """One entry of a record's history list, as JSON."""
    return Transition(state=str(state), at=at, trace_id=trace_id, detail=detail).model_dump_json(
        exclude_none=True
    )
