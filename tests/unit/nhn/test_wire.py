from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpr_gateway.nhn import (
    CMS_CONTENT_TYPE,
    NhnWireError,
    new_message,
    read_transport_error,
    transport_error_message,
)
from kpr_gateway.nhn.wire import format_timestamp, parse_timestamp

NOW = datetime(2026, 1, 5, 7, 8, 9, 123456, tzinfo=UTC)


def test_new_message_follows_the_profile() -> None:
    message = new_message(
        to_queue="122612_async",
        subject="KPR_IPL",
        reply_to="50002_async",
        from_her_id="50002",
        to_her_id="122612",
        body=b"cms",
        ttl_ms=86_400_000,
        now=NOW,
    )
    assert uuid.UUID(message.message_id).version == 4
    assert message.correlation_id == message.message_id
    assert message.content_type == CMS_CONTENT_TYPE
    assert message.application_properties() == {
        "fromHerId": "50002",
        "toHerId": "122612",
        "applicationTimeStamp": "2026-01-05T07:08:09Z",
        "enqueuedTimeUtc": "2026-01-05T07:08:09Z",
    }


def test_correlation_id_kept_when_given() -> None:
    message = new_message(
        to_queue="q",
        subject="APPREC",
        reply_to=None,
        from_her_id="1",
        to_her_id="2",
        body=b"",
        ttl_ms=None,
        correlation_id="abc",
    )
    assert message.correlation_id == "abc"
    assert message.message_id != "abc"


def test_timestamp_is_utc_whatever_the_zone() -> None:
    oslo = NOW.astimezone(timezone(timedelta(hours=1)))
    assert format_timestamp(oslo) == "2026-01-05T07:08:09Z"


@given(st.datetimes(timezones=st.just(UTC)))
def test_timestamp_round_trip_to_the_second(moment: datetime) -> None:
    assert parse_timestamp(format_timestamp(moment)) == moment.replace(microsecond=0)


def test_tolerant_timestamp_reading() -> None:
    assert parse_timestamp(" 2026-01-05T07:08:09.5Z ") == datetime(
        2026, 1, 5, 7, 8, 9, 500000, tzinfo=UTC
    )
    assert parse_timestamp("2026-01-05T07:08:09").tzinfo is UTC
    with pytest.raises(NhnWireError):
        parse_timestamp("yesterday")


def test_transport_error_round_trip() -> None:
    original = new_message(
        to_queue="122612_async",
        subject="KPR_IDE",
        reply_to="50002_async",
        from_her_id="50002",
        to_her_id="122612",
        body=b"x",
        ttl_ms=None,
    )
    error = transport_error_message(
        original=original,
        condition="transport:invalid-certificate",
        description="certificate not valid",
        error_queue="50002_error",
    )
    assert error.body == b""
    assert (error.to, error.to_her_id) == ("50002_error", "50002")
    read = read_transport_error(error.application_properties())
    assert (read.original_message_id, read.condition) == (
        original.message_id,
        "transport:invalid-certificate",
    )


def test_transport_error_reading_is_tolerant_but_needs_the_id() -> None:
    read = read_transport_error({"OriginalMessageId": " m1 ", "errorcondition": " abuse:x "})
    assert (read.original_message_id, read.condition, read.description) == ("m1", "abuse:x", "")
    with pytest.raises(NhnWireError, match="originalMessageId"):
        read_transport_error({"errorCondition": "x"})
