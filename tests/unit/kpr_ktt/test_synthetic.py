"""The test helper's check digits agree with published examples (python-stdnum's docs)."""

from __future__ import annotations

from tests.unit.kpr_ktt.synthetic import (
    has_valid_check_digits,
    org_number_with_check_digit,
    synthetic_national_id,
)


def test_known_national_ids() -> None:
    assert has_valid_check_digits("15108695088")
    assert not has_valid_check_digits("15108695077")


def test_known_org_number() -> None:
    assert org_number_with_check_digit("98807791") == "988077917"


def test_synthetic_ids_have_month_plus_80_and_valid_check_digits() -> None:
    fnr = synthetic_national_id(14, 3, 1948, 123)
    d_number = synthetic_national_id(23, 7, 1990, 210, d_number=True)
    assert fnr[2:4] == "83"
    assert d_number[:4] == "6387"
    assert has_valid_check_digits(fnr)
    assert has_valid_check_digits(d_number)
