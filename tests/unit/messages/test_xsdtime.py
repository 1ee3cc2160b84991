"""xs:dateTime handling: UTC with Z on the way out, every legal form on the way in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpr_gateway.messages.xsdtime import format_utc, parse_datetime, parse_datetime_or_date


def test_format_converts_to_utc_with_z() -> None:
    local = datetime(2025, 1, 31, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_utc(local) == "2025-01-31T12:00:00Z"


def test_format_writes_the_fraction_without_trailing_zeros() -> None:
    assert format_utc(datetime(2025, 1, 31, 12, 0, 0, 250000, tzinfo=UTC)) == (
        "2025-01-31T12:00:00.25Z"
    )


def test_format_refuses_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_utc(datetime(2025, 1, 31, 12, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-10-22T14:15:00.0Z", datetime(2022, 10, 22, 14, 15, tzinfo=UTC)),
        ("2008-12-17T09:30:47", datetime(2008, 12, 17, 9, 30, 47)),
        (" 2020-06-19T17:02:15+02:00\n", datetime(2020, 6, 19, 15, 2, 15, tzinfo=UTC)),
        (
            "2020-06-19T17:02:15.1234567-01:30",
            datetime(2020, 6, 19, 18, 32, 15, 123456, tzinfo=UTC),
        ),
    ],
)
def test_parse_accepts_xsd_forms(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert (parsed.tzinfo is None) == (expected.tzinfo is None)


@pytest.mark.parametrize(
    "text",
    ["", "2020-06-19", "2020-06-19 17:02:15", "20200619T170215Z", "2020-13-01T00:00:00", "x"],
)
def test_parse_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_datetime(text)


def test_parse_datetime_or_date_accepts_a_bare_date() -> None:
    assert parse_datetime_or_date("2012-11-14") == datetime(2012, 11, 14)


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))]
        ),
    )
)
def test_round_trip(value: datetime) -> None:
    written = format_utc(value)
    assert written.endswith("Z")
    assert parse_datetime(written) == value
