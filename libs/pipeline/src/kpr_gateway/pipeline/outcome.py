"""The one place that decides what happens to a message after its handler ran.

Both buses call :func:`decide` and build republished headers with :func:`retry_headers`
and :func:`park_headers`, so ack / retry / park means the same on RabbitMQ and in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kpr_gateway.pipeline.delivery import (
    ATTEMPT_HEADER,
    ORIGINAL_QUEUE_HEADER,
    PARK_REASON_HEADER,
    PARK_SERVICE_HEADER,
    Delivery,
    application_headers,
)
from kpr_gateway.pipeline.errors import PermanentError, PipelineError, TransientError

MAX_REASON_LENGTH = 300
DEFAULT_MAX_ATTEMPTS = 6
"""With the default five retry delays: the first try, five retries, then park."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The handler succeeded: acknowledge."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later as attempt ``next_attempt``; ``reason`` says why this one failed."""

    reason: str
    next_attempt: int


@dataclass(frozen=True, slots=True)
class Park:
    """Move to the parking queue with ``reason``, then acknowledge. Never dropped."""

    reason: str


Outcome = Ack | Retry | Park

ACK = Ack()


def safe_reason(text: str) -> str:
    """A reason fit for a header, a log line and a span: one line, printable, capped."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if not cleaned:
        cleaned = "no reason given"
    if len(cleaned) > MAX_REASON_LENGTH:
        cleaned = cleaned[: MAX_REASON_LENGTH - 3] + "..."
    return cleaned


def describe(error: Exception) -> str:
    """Why a handler failed, without echoing foreign exception texts.

    Our own errors carry reasons written for this purpose; any other exception's text may
    quote input (a national id in a KeyError), so only its type is named.
    """
    if isinstance(error, PermanentError | TransientError):
        return safe_reason(error.reason)
    if isinstance(error, PipelineError):
        return safe_reason(f"{type(error).__name__}: {error}")
    return safe_reason(f"unexpected {type(error).__name__}")


def decide(error: Exception | None, *, attempt: int, max_attempts: int) -> Outcome:
    """Ack on success; park a PermanentError; retry anything else until max_attempts."""
    if error is None:
        return ACK
    reason = describe(error)
    if isinstance(error, PermanentError):
        return Park(reason)
    if attempt >= max_attempts:
        return Park(safe_reason(f"gave up after {attempt} attempts; last: {reason}"))
    return Retry(reason, attempt + 1)


def retry_headers(delivery: Delivery, outcome: Retry) -> dict[str, str]:
    """Headers for the retried copy: the application's, with the next attempt number."""
    headers = application_headers(delivery.headers)
    headers[ATTEMPT_HEADER] = str(outcome.next_attempt)
    return headers


def park_headers(delivery: Delivery, outcome: Park, *, service: str) -> dict[str, str]:
    """Headers for the parked copy: the application's, plus why, who and where from."""
    return parking_headers(
        delivery.headers,
        reason=outcome.reason,
        service=service,
        queue=delivery.queue,
        attempt=delivery.attempt,
    )


def parking_headers(
    headers: Mapping[str, str], *, reason: str, service: str, queue: str, attempt: int = 1
) -> dict[str, str]:
    """The application's headers plus why, who and where from (also for ``Bus.park``)."""
    parked = application_headers(headers)
    parked[PARK_REASON_HEADER] = safe_reason(reason)
    parked[PARK_SERVICE_HEADER] = service
    parked[ORIGINAL_QUEUE_HEADER] = queue
    parked[ATTEMPT_HEADER] = str(attempt)
    return parked
