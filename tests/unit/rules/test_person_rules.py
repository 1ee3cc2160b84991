"""Test persons are never sent; fødselsnummer and D-numbers pass check digits and carry a date."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.no import fodselsnummer

from kpr_gateway.transform.rules import KnownTestPersons, RulesConfigError, is_synthetic
from kpr_gateway.transform.rules.person_rules import (
    _plainly_valid,
    check_national_id,
    check_test_person,
)
from tests.unit.rules.support import national_id, with_check_digits

birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31))


@given(born=birth_dates, d_number=st.booleans())
@settings(max_examples=50)
def test_real_ids_pass(born: date, d_number: bool) -> None:
    person = national_id(born, d_number=d_number)
    assert not is_synthetic(person)
    assert check_national_id(person) is None
    assert check_test_person(person, None) is None


@given(born=birth_dates, offset=st.sampled_from([40, 80]), d_number=st.booleans())
@settings(max_examples=50)
def test_synthetic_ids_are_test_persons(born: date, offset: int, d_number: bool) -> None:
    person = national_id(born, month_offset=offset, d_number=d_number)
    assert is_synthetic(person)
    finding = check_test_person(person, None)
    assert finding is not None
    assert (finding.rule, finding.severity.value, finding.field) == (
        "test-person",
        "suppress",
        "national_id",
    )


@pytest.mark.parametrize("month", ["13", "40", "53", "80", "93", "99", "00"])
def test_months_outside_the_synthetic_ranges_are_not_test_persons(month: str) -> None:
    assert not is_synthetic(f"01{month}80123")


@given(born=birth_dates, position=st.integers(0, 10), change=st.integers(1, 9))
@settings(max_examples=50)
def test_any_one_digit_changed_breaks_the_check_digits(
    born: date, position: int, change: int
) -> None:
    person = national_id(born)
    digit = (int(person[position]) + change) % 10
    altered = person[:position] + str(digit) + person[position + 1 :]
    finding = check_national_id(altered)
    # A changed date digit may also make the date impossible; either way it is refused.
    assert finding is not None
    assert finding.rule in {"national-id-check-digits", "national-id-birth-date"}


def test_wrong_check_digits_are_named() -> None:
    person = national_id(date(1948, 3, 17))
    wrong = person[:10] + str((int(person[10]) + 1) % 10)
    finding = check_national_id(wrong)
    assert finding is not None
    assert finding.rule == "national-id-check-digits"
    assert finding.severity.value == "reject"


@pytest.mark.parametrize("first_six", ["300250", "320150", "001350", "711150", "290299"])
def test_an_impossible_date_with_valid_check_digits_is_refused(first_six: str) -> None:
    finding = check_national_id(with_check_digits(first_six))
    assert finding is not None
    assert finding.rule == "national-id-birth-date"


def test_a_person_not_yet_born_is_refused() -> None:
    tomorrow_next_year = date.today() + timedelta(days=400)
    finding = check_national_id(national_id(tomorrow_next_year))
    assert finding is not None
    assert finding.rule == "national-id-birth-date"


def test_an_fh_number_is_refused() -> None:
    finding = check_national_id("81234567890")
    assert finding is not None
    assert finding.rule == "national-id-birth-date"
    assert "FH" in finding.reason_en
    assert "FH" in finding.reason_nb


def test_listed_test_persons_are_matched_by_hash(tmp_path: Path) -> None:
    listed_person = national_id(date(1970, 7, 7))
    other = national_id(date(1970, 7, 7), nth=1)
    path = tmp_path / "test-persons.txt"
    path.write_text(f"# fictional test persons\n\n  {listed_person}  \n")
    listed = KnownTestPersons.from_file(path)
    assert len(listed) == 1
    assert listed_person in listed
    assert other not in listed
    assert 12345 not in listed
    finding = check_test_person(listed_person, listed)
    assert finding is not None
    assert (finding.rule, finding.severity.value) == ("test-person-listed", "suppress")
    assert check_test_person(other, listed) is None


def test_the_hashes_differ_between_lists() -> None:
    person = national_id(date(1970, 7, 7))
    first, second = KnownTestPersons([person]), KnownTestPersons([person])
    assert first._digests != second._digests


def test_a_bad_line_in_the_list_is_refused_without_its_content(tmp_path: Path) -> None:
    person = national_id(date(1970, 7, 7))
    path = tmp_path / "test-persons.txt"
    path.write_text(f"{person}\n{person}9\n")
    with pytest.raises(RulesConfigError, match="line 2 is not an 11-digit national id") as caught:
        KnownTestPersons.from_file(path)
    assert person not in str(caught.value)


def test_a_missing_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesConfigError, match="test person list cannot be read"):
        KnownTestPersons.from_file(tmp_path / "absent.txt")


# Nine digits with valid check digits appended where they exist: most such ids pass, and the
# rest fail on the date or century, so both sides of the fast path are exercised.
_checked_ids = st.from_regex(r"[0-7][0-9]{8}", fullmatch=True).map(
    lambda nine: nine + fodselsnummer.calc_check_digit1(nine)
)


@given(
    candidate=st.one_of(
        st.from_regex(r"[0-9]{11}", fullmatch=True),
        # a check digit can come out as "10" (no valid id): keep the eleven-digit ones
        _checked_ids.map(lambda ten: ten + fodselsnummer.calc_check_digit2(ten)).filter(
            lambda eleven: len(eleven) == 11
        ),
        st.builds(national_id, birth_dates, d_number=st.booleans()),
    )
)
@settings(max_examples=500)
def test_the_fast_path_agrees_with_stdnum(candidate: str) -> None:
    # check_national_id answers a valid id without stdnum: it must agree with stdnum exactly.
    expected = candidate[0] not in "89" and fodselsnummer.is_valid(candidate)
    assert (check_national_id(candidate) is None) == expected
    if candidate[0] not in "89":
        assert _plainly_valid(candidate) == fodselsnummer.is_valid(candidate)
