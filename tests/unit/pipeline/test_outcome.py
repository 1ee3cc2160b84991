"""The single ack / retry / park decision and the headers of republished copies."""

from __future__ import annotations

import pytest

from kpr_gateway.pipeline.delivery import Delivery
from kpr_gateway.pipeline.errors import (
    BusError,
    PermanentError,
    PipelineError,
    PublishError,
    TransientError,
)
from kpr_gateway.pipeline.outcome import (
    ACK,
    MAX_REASON_LENGTH,
    Park,
    Retry,
    decide,
    describe,
    park_headers,
    retry_headers,
    safe_reason,
)

NATIONAL_ID = "01017012345"


def test_success_is_ack() -> None:
    assert decide(None, attempt=1, max_attempts=3) == ACK


def test_permanent_error_parks_at_once() -> None:
    assert decide(PermanentError("bad signature"), attempt=1, max_attempts=3) == Park(
        "bad signature"
    )


def test_transient_error_retries_with_next_attempt() -> None:
    assert decide(TransientError("redis down"), attempt=2, max_attempts=3) == Retry("redis down", 3)


def test_any_other_error_retries_and_names_only_its_type() -> None:
    outcome = decide(KeyError(NATIONAL_ID), attempt=1, max_attempts=3)
    assert outcome == Retry("unexpected KeyError", 2)


def test_bus_errors_keep_their_own_text() -> None:
    assert describe(PublishError("unroutable: no queue x")) == (
        "PublishError: unroutable: no queue x"
    )


@pytest.mark.parametrize("error", [TransientError("flaky"), ValueError("x")])
def test_last_attempt_parks_with_the_last_reason(error: Exception) -> None:
    outcome = decide(error, attempt=3, max_attempts=3)
    assert isinstance(outcome, Park)
    assert outcome.reason.startswith("gave up after 3 attempts; last: ")


def test_reasons_are_one_printable_capped_line() -> None:
    reason = safe_reason("line one\nline two\x00" + "x" * 1000)
    assert "\n" not in reason
    assert "\x00" not in reason
    assert len(reason) == MAX_REASON_LENGTH
    assert reason.endswith("...")
    assert safe_reason("  \n ") == "no reason given"


def _delivery(headers: dict[str, str], attempt: int = 2) -> Delivery:
    return Delivery(body=b"{}", headers=headers, message_id="m-1", queue="events", attempt=attempt)


BROKER_HEADERS = {
    "x-death": "dropped",
    "x-first-death-queue": "events.retry.1",
    "x-delivery-count": "3",
    "x-attempt": "2",
    "x-park-reason": "old",
}


def test_retry_copy_carries_application_headers_and_the_next_attempt() -> None:
    headers = retry_headers(
        _delivery({"traceparent": "00-abc", "tenant": "t1", **BROKER_HEADERS}), Retry("r", 3)
    )
    assert headers == {"traceparent": "00-abc", "tenant": "t1", "x-attempt": "3"}


def test_park_copy_says_why_who_and_where_from() -> None:
    long_reason = "y" * 2000
    headers = park_headers(
        _delivery({"tenant": "t1", **BROKER_HEADERS}), Park(long_reason), service="envelope"
    )
    assert headers["tenant"] == "t1"
    assert headers["x-park-service"] == "envelope"
    assert headers["x-original-queue"] == "events"
    assert headers["x-attempt"] == "2"
    assert len(headers["x-park-reason"]) == MAX_REASON_LENGTH
    assert not {"x-death", "x-first-death-queue", "x-delivery-count"} & headers.keys()


def test_error_hierarchy_has_one_root() -> None:
    for kind in (PermanentError, TransientError, BusError, PublishError):
        assert issubclass(kind, PipelineError)
    assert PermanentError("why").reason == "why"
