"""Reading the intake's answer to one batch (``BatchResult``): counts, and the refused events
with their reasons, kept without personal data."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from kpr_gateway.cli.backfill.errors import BackfillStoppedError
from kpr_gateway.cli.backfill.reader import Batch

_FIELD: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]()]{0,99}$")
# Belt and braces: the API's reasons carry no values; a run of digits (a national id, a
# birth date) never reaches the refused file even if one did.
_DIGITS: Final = re.compile(r"[0-9]{6,}")
_MAX_REASON: Final = 300
NO_FIELD: Final = "(event)"
CONFLICT: Final = "(conflict)"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One event the API refused: its line, id and reasons (field names and texts only)."""

    line: int
    event_id: str | None
    status_code: int
    reasons: tuple[dict[str, str], ...]

    def fields(self) -> set[str]:
        """What the refusal is counted under: the fields named, else (event) or (conflict)."""
        named = {r["field"] for r in self.reasons if "field" in r}
        if named:
            return named
        return {CONFLICT if self.status_code == 409 else NO_FIELD}

    def to_json_line(self) -> bytes:
        record = {
            "line": self.line,
            "event_id": self.event_id,
            "status_code": self.status_code,
            "reasons": list(self.reasons),
        }
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    sent: int
    accepted: int
    repeated: int
    refusals: tuple[Refusal, ...]

    def refused_fields(self) -> Counter[str]:
        counted: Counter[str] = Counter()
        for refusal in self.refusals:
            counted.update(refusal.fields())
        return counted


def read_answer(batch: Batch, body: bytes) -> BatchOutcome:
    """The outcome of ``batch`` from the API's 200 answer; an answer that does not account
    for every line stops the run (it is not the API this tool knows)."""
    try:
        answer: Any = json.loads(body)
        results = answer["results"]
        items = {int(item["index"]): item for item in results}
    except (ValueError, TypeError, KeyError) as exc:
        raise BackfillStoppedError(f"{batch.where}: the answer is not a batch result") from exc
    if sorted(items) != list(range(len(batch.lines))):
        raise BackfillStoppedError(
            f"{batch.where}: the answer has {len(items)} results for {len(batch.lines)} events"
        )
    accepted = repeated = 0
    refusals = []
    for index, line in enumerate(batch.line_numbers):
        item = items[index]
        status_code = item.get("status_code")
        if status_code == 202:
            accepted += 1
            repeated += _is_repeat(item)
        else:
            refusals.append(_refusal(line, item))
    return BatchOutcome(len(batch.lines), accepted, repeated, tuple(refusals))


def _is_repeat(item: dict[str, Any]) -> bool:
    # ``repeat`` when the API gives it; else an event already past ``received`` was sent before.
    repeat = item.get("repeat")
    if isinstance(repeat, bool):
        return repeat
    return item.get("status") != "received"


def _refusal(line: int, item: dict[str, Any]) -> Refusal:
    event_id = item.get("event_id")
    status_code = item.get("status_code")
    errors = item.get("errors")
    reasons = [_reason(e) for e in errors] if isinstance(errors, list) else []
    return Refusal(
        line=line,
        event_id=_event_id(event_id),
        status_code=status_code if isinstance(status_code, int) else 0,
        reasons=tuple(r for r in reasons if r),
    )


def _event_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _reason(error: object) -> dict[str, str]:
    if not isinstance(error, dict):
        return {}
    kept: dict[str, str] = {}
    field = error.get("field")
    if isinstance(field, str) and _FIELD.fullmatch(field):
        kept["field"] = field
    reason = error.get("reason")
    if isinstance(reason, str):
        kept["reason"] = _DIGITS.sub("<digits>", reason[:_MAX_REASON])
    return kept
