"""What a handler receives, and the header names the bus itself uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

ATTEMPT_HEADER = "x-attempt"
PARK_REASON_HEADER = "x-park-reason"
PARK_SERVICE_HEADER = "x-park-service"
ORIGINAL_QUEUE_HEADER = "x-original-queue"

_BUS_PREFIX = "x-"
"""Headers starting with ``x-`` belong to the bus or the broker (``x-death``,
``x-delivery-count``...); they are rewritten, never carried, when a message is republished.
Carrying ``x-death`` into a retry queue it already passed through would make RabbitMQ see a
dead-letter cycle and drop the message."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as a handler sees it; ``queue`` is the logical (unprefixed) name."""

    body: bytes = field(repr=False)
    headers: Mapping[str, str]
    message_id: str
    queue: str
    attempt: int = 1


Handler = Callable[[Delivery], Awaitable[None]]


def text_headers(raw: Mapping[str, object] | None) -> dict[str, str]:
    """The headers whose values are text or numbers, as text; tables and lists are dropped."""
    result: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if isinstance(value, bytes):
            try:
                result[key] = value.decode()
            except UnicodeDecodeError:
                continue
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            result[key] = str(value)
    return result


def application_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a republished message carries over: everything not owned by the bus."""
    return {k: v for k, v in headers.items() if not k.lower().startswith(_BUS_PREFIX)}


def attempt_of(headers: Mapping[str, str]) -> int:
    """The attempt number in ``x-attempt``; 1 when absent or not a positive number."""
    try:
        attempt = int(headers.get(ATTEMPT_HEADER, "1"))
    except ValueError:
        return 1
    return max(attempt, 1)
