"""KttEvent validation: good and bad events, and error texts that never carry a national id."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kpr_gateway.messages.kpr_ktt_v1 import EventStatus, KttEvent, describe_errors
from tests.unit.kpr_ktt.synthetic import synthetic_national_id

NATIONAL_ID = synthetic_national_id(14, 3, 1948, 123)
ELEVEN_DIGITS = re.compile(r"[0-9]{11}")


def minimal(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "3b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b01",
        "status": "N",
        "municipality_number": "0301",
        "national_id": NATIONAL_ID,
        "service_code": "15",
        "decision_date": "2026-01-02",
        "start_date": "2026-01-05",
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


def errors_of(data: Any) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        KttEvent.model_validate(data)
    return describe_errors(caught.value)


def test_minimal_event() -> None:
    event = KttEvent.model_validate(minimal())
    assert event.event_id == UUID("3b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b01")
    assert event.status is EventStatus.NEW
    assert event.start_date == date(2026, 1, 5)
    assert event.stop_date is None
    assert event.end_date is None
    assert event.hours_per_week is None


def test_full_event_from_json() -> None:
    body = json.dumps(
        minimal(
            status="M",
            stop_date="2026-02-01",
            end_date="2026-06-30",
            hours_per_week=7.25,
            provider_org_number="987654325",
            case_reference="SAK 2026/0001",
        )
    )
    event = KttEvent.model_validate_json(body)
    assert event.status is EventStatus.CORRECT_REPLACE
    assert event.hours_per_week == Decimal("7.25")
    assert event.end_date == date(2026, 6, 30)
    assert event.case_reference == "SAK 2026/0001"


@pytest.mark.parametrize("code", ["12", "13", "16"])
def test_obsolete_codes_pass_format_validation(code: str) -> None:
    # Rejecting them is a data-quality rule with its own reason, applied later.
    assert KttEvent.model_validate(minimal(service_code=code)).service_code == code


def test_same_dates_are_allowed() -> None:
    event = KttEvent.model_validate(
        minimal(start_date="2026-01-05", stop_date="2026-01-05", end_date="2026-01-05")
    )
    assert event.end_date == event.start_date


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"national_id": "1483481241"}, "national_id", "11 digits"),
        ({"national_id": "148348124100"}, "national_id", "11 digits"),
        ({"national_id": "1483481241X"}, "national_id", "11 digits"),
        ({"national_id": "١٤٨٣٤٨١٢٤١٠"}, "national_id", "11 digits"),  # Arabic-Indic digits
        ({"national_id": 14834812410}, "national_id", "valid string"),
        ({"municipality_number": "301"}, "municipality_number", "pattern"),
        ({"service_code": "99"}, "service_code", "KPR service list"),
        ({"service_code": "015"}, "service_code", "pattern"),
        ({"status": "X"}, "status", "'N', 'M', 'T' or 'C'"),
        ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
        ({"decision_date": "02.01.2026"}, "decision_date", "YYYY-MM-DD"),
        # Pydantic alone would read these as Unix timestamps (days in 1970).
        ({"decision_date": "20260102"}, "decision_date", "YYYY-MM-DD"),
        ({"start_date": 1767571200}, "start_date", "YYYY-MM-DD"),
        ({"end_date": "2026-06-30T00:00:00"}, "end_date", "YYYY-MM-DD"),
        ({"stop_date": "2026-2-1"}, "stop_date", "YYYY-MM-DD"),
        ({"start_date": "2026-02-30"}, "start_date", "date"),
        ({"end_date": "2026-01-04"}, "end_date", "end_date is before start_date"),
        ({"stop_date": "2026-01-04"}, "stop_date", "stop_date is before start_date"),
        (
            {"stop_date": "2026-03-01", "end_date": "2026-02-01"},
            "end_date",
            "end_date is before stop_date",
        ),
        ({"hours_per_week": 168.01}, "hours_per_week", "less than or equal to 168"),
        ({"hours_per_week": -1}, "hours_per_week", "greater than or equal to 0"),
        ({"hours_per_week": "7.125"}, "hours_per_week", "2 decimal places"),
        ({"provider_org_number": "98765432"}, "provider_org_number", "pattern"),
        ({"case_reference": " leading space"}, "case_reference", "pattern"),
        ({"case_reference": "x" * 65}, "case_reference", "pattern"),
        ({"case_reference": "line\nbreak"}, "case_reference", "pattern"),
        ({"extra": "field"}, "(event)", "unknown field(s): extra"),
    ],
)
def test_bad_events(changes: dict[str, Any], field: str, reason: str) -> None:
    described = errors_of(minimal(**changes))
    assert len(described) == 1
    assert described[0]["field"] == field
    assert reason in described[0]["reason"]


def test_missing_required_fields_are_each_reported() -> None:
    described = errors_of({})
    assert {error["field"] for error in described} == {
        "event_id",
        "status",
        "municipality_number",
        "national_id",
        "service_code",
        "decision_date",
        "start_date",
    }


def test_event_is_immutable() -> None:
    event = KttEvent.model_validate(minimal())
    with pytest.raises(ValidationError):
        event.status = EventStatus.CANCEL  # type: ignore[misc]


def test_repr_hides_the_national_id() -> None:
    event = KttEvent.model_validate(minimal())
    assert NATIONAL_ID not in repr(event)
    assert NATIONAL_ID not in str(event)


# --- No national id in any error text -------------------------------------------------------

LEAKY_INPUTS = [
    # The national id in a wrong format, so its own check fails.
    minimal(national_id=NATIONAL_ID + "0"),
    minimal(national_id=NATIONAL_ID[:-1] + "A"),
    minimal(national_id=int(NATIONAL_ID)),
    # The national id in the wrong field.
    minimal(event_id=NATIONAL_ID),
    minimal(municipality_number=NATIONAL_ID),
    minimal(service_code=NATIONAL_ID),
    minimal(case_reference=NATIONAL_ID + " " + "x" * 60),
    minimal(provider_org_number=NATIONAL_ID),
    minimal(decision_date=NATIONAL_ID),
    minimal(hours_per_week=NATIONAL_ID),
    minimal(status=NATIONAL_ID),
    # The national id as a key.
    {**minimal(), NATIONAL_ID: "x"},
    {**minimal(), "fnr": NATIONAL_ID},
    # The national id as the whole body.
    NATIONAL_ID,
    [NATIONAL_ID],
]


def assert_no_national_id(exc: ValidationError) -> None:
    described = describe_errors(exc)
    assert described
    for error in described:
        assert set(error) == {"field", "reason"}
        assert not ELEVEN_DIGITS.search(error["field"] + error["reason"])
    assert NATIONAL_ID not in str(exc)
    assert NATIONAL_ID not in repr(exc)


@pytest.mark.parametrize("data", LEAKY_INPUTS)
def test_errors_never_carry_the_national_id(data: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        KttEvent.model_validate(data)
    assert_no_national_id(caught.value)


@pytest.mark.parametrize("data", LEAKY_INPUTS)
def test_errors_never_carry_the_national_id_from_json(data: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        KttEvent.model_validate_json(json.dumps(data))
    assert_no_national_id(caught.value)


def test_unknown_keys_that_are_not_field_names_are_counted_not_shown() -> None:
    described = errors_of({**minimal(), NATIONAL_ID: 1, "nationalId": 2})
    assert described == [
        {"field": "(event)", "reason": "unknown field(s): nationalId; 1 more not shown"}
    ]


_FIELDS = sorted(KttEvent.model_fields)


def validation_error(data: Any) -> ValidationError | None:
    try:
        KttEvent.model_validate(data)
    except ValidationError as exc:
        return exc
    return None


@settings(max_examples=50)
@given(
    field=st.sampled_from(_FIELDS),
    digits=st.from_regex(r"[0-9]{11}", fullmatch=True),
    padding=st.sampled_from(["0", "A", " ", "-"]),
)
def test_no_eleven_digit_run_in_described_errors(field: str, digits: str, padding: str) -> None:
    exc = validation_error(minimal(**{field: digits + padding}))
    # Some values are valid (a case reference, zero hours written with leading zeros).
    assume(exc is not None)
    assert exc is not None
    for error in describe_errors(exc):
        assert not ELEVEN_DIGITS.search(error["field"] + error["reason"])
    assert digits not in str(exc)
