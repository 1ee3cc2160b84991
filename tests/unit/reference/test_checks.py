"""The shared checks by themselves: id problems by type, synthetic ids, whole-year use."""

from __future__ import annotations

from datetime import date

import pytest

from kpr_gateway.reference import (
    IdProblem,
    check_digits,
    check_national_id,
    is_synthetic,
    load_municipalities,
)

VALID = "28015926254"


@pytest.mark.parametrize(
    ("value", "id_type", "problem"),
    [
        (VALID, 1, None),
        (VALID[:10] + "5", 1, IdProblem.CHECK_DIGITS),
        (VALID[:10], 1, IdProblem.FORM),
        ("81234567890", 2, IdProblem.FH_NUMBER),
        ("170348", 9, None),
        ("320148", 9, IdProblem.DDMMYY),
        ("201400123456", 10, None),
        ("20140012345", 10, IdProblem.FORM),
        ("anything", 4, None),
    ],
)
def test_problems_by_id_type(value: str, id_type: int, problem: IdProblem | None) -> None:
    assert check_national_id(value, id_type) is problem


def test_check_digits_complete_a_number() -> None:
    assert check_digits(VALID[:9]) == VALID[9:]
    assert check_national_id(VALID[:9] + (check_digits(VALID[:9]) or ""), 1) is None


def test_short_or_odd_ids_are_not_synthetic() -> None:
    assert not is_synthetic("12", 1)
    assert not is_synthetic("01x180", 1)
    assert is_synthetic("01815912345", 1)


def test_in_use_throughout_a_year() -> None:
    table = load_municipalities()
    assert table.in_use_throughout("4601", date(2024, 1, 1), date(2024, 12, 31))
    assert not table.in_use_throughout("3024", date(2024, 1, 1), date(2024, 12, 31))
    assert table.in_use_throughout("3024", date(2020, 1, 1), date(2023, 12, 31))
    assert not table.in_use_throughout("9999", date(2024, 1, 1), date(2024, 12, 31))
