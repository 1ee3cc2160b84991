"""Reading request bodies with a size cap, and parsing single and batch submissions."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from kpr_gateway.intake.errors import BadRequestError, InvalidEventError, PayloadTooLargeError
from kpr_gateway.messages.iplos_kpr import Notification, describe_errors, shown_field_name

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonlines")


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"body larger than {max_bytes} bytes")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > max_bytes:
            raise PayloadTooLargeError(f"body larger than {max_bytes} bytes")
    return bytes(body)


def parse_json(data: bytes, where: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"{where}: not UTF-8") from exc
    try:
        return json.loads(text, object_pairs_hook=_object_without_repeated_keys)
    except RepeatedKeyError as exc:
        raise BadRequestError(f"{where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"{where}: not valid JSON") from exc
    except RecursionError as exc:  # the C scanner's guard against hostile nesting
        raise BadRequestError(f"{where}: nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer beyond Python's 4300-digit conversion limit
        raise BadRequestError(f"{where}: a number is too long") from exc


class RepeatedKeyError(ValueError):
    """A JSON object names a key twice (the json module would keep the last silently)."""


def _object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) != len(pairs):
        raise RepeatedKeyError(f"{_first_repeated(pairs)} appears twice in one object")
    return made


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            # A key could be a national id sent in the wrong place: name field-like keys only.
            return repr(key) if shown_field_name(key) else "a key"
        seen.add(key)
    return "a key"


def validate_event(raw: Any) -> Notification:
    if not isinstance(raw, dict):
        raise InvalidEventError("an event is a JSON object")
    try:
        return Notification.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEventError("the event is not valid", details=describe_errors(exc)) from None


@dataclass(frozen=True, slots=True)
class BatchEntry:
    index: int
    event: Notification | None
    error: InvalidEventError | None
    claimed_event_id: str | None


def parse_batch(data: bytes, content_type: str, max_events: int) -> list[BatchEntry]:
    """The events of a batch, each valid or with its reasons (a bad one never fails the rest)."""
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media_type in NDJSON_TYPES:
        lines = [line for line in data.split(b"\n") if line.strip()]
        if len(lines) > max_events:
            raise PayloadTooLargeError(f"more than {max_events} events in one batch")
        raws: list[Any] = []
        for number, line in enumerate(lines):
            try:
                raws.append(parse_json(line, f"line {number + 1}"))
            except BadRequestError as exc:
                raws.append(exc)
    else:
        parsed = parse_json(data, "body")
        if not isinstance(parsed, list):
            raise BadRequestError("a batch is a JSON array of events (or NDJSON)")
        if len(parsed) > max_events:
            raise PayloadTooLargeError(f"more than {max_events} events in one batch")
        raws = parsed
    if not raws:
        raise BadRequestError("the batch is empty")
    return [_entry(index, raw) for index, raw in enumerate(raws)]


def _entry(index: int, raw: Any) -> BatchEntry:
    if isinstance(raw, BadRequestError):
        error = InvalidEventError(raw.message)
        return BatchEntry(index, None, error, None)
    try:
        event = validate_event(raw)
    except InvalidEventError as exc:
        return BatchEntry(index, None, exc, _claimed_event_id(raw))
    return BatchEntry(index, event, None, str(event.event_id))


def _claimed_event_id(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("event_id"), str):
        try:
            return str(uuid.UUID(raw["event_id"]))
        except ValueError:
            return None
    return None
