"""The person's id by its type: test persons never sent, check digits and dates, KPR-ID."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.no import fodselsnummer

from kpr_gateway.messages.iplos_kpr import IdType, Person
from kpr_gateway.reference.national_ids import plainly_valid
from kpr_gateway.transform.rules import KnownTestPersons, RulesConfigError, is_synthetic
from kpr_gateway.transform.rules.person_rules import (
    check_fodselsnummer,
    check_kpr_id,
    check_national_id,
)
from kpr_gateway.transform.rules.testperson_rules import check_test_person
from tests.unit.rules.support import DUF, h_number, national_id, with_check_digits

birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31))


def person(national_id: str, id_type: int = 1) -> Person:
    return Person(national_id=national_id, id_type=IdType(id_type), user_number="100234")


def rule_of(national_id: str, id_type: int = 1) -> str | None:
    finding = check_national_id(person(national_id, id_type))
    return None if finding is None else finding.rule


# Test persons


@given(born=birth_dates, d_number=st.booleans())
@settings(max_examples=50)
def test_real_ids_pass(born: date, d_number: bool) -> None:
    real = person(national_id(born, d_number=d_number), 2 if d_number else 1)
    assert not is_synthetic(real.national_id, real.id_type)
    assert check_national_id(real) is None
    assert check_test_person(real, None) is None


@given(born=birth_dates, offset=st.sampled_from([40, 80]), d_number=st.booleans())
@settings(max_examples=50)
def test_synthetic_ids_are_test_persons(born: date, offset: int, d_number: bool) -> None:
    synthetic = person(
        national_id(born, month_offset=offset, d_number=d_number), 2 if d_number else 1
    )
    assert is_synthetic(synthetic.national_id, synthetic.id_type)
    finding = check_test_person(synthetic, None)
    assert finding is not None
    assert (finding.rule, finding.severity.value, finding.field) == (
        "test-person",
        "suppress",
        "person.national_id",
    )


@pytest.mark.parametrize("month", ["13", "40", "53", "80", "93", "99", "00"])
def test_months_outside_the_synthetic_ranges_are_not_test_persons(month: str) -> None:
    assert not is_synthetic(f"01{month}80123")


def test_an_h_number_is_synthetic_only_with_its_month_raised_by_80() -> None:
    born = date(1970, 7, 7)
    assert not is_synthetic(h_number(born), IdType.H_NUMMER)
    assert check_test_person(person(h_number(born), 3), None) is None
    tenor = national_id(born, month_offset=80)
    assert is_synthetic(tenor, IdType.H_NUMMER)
    finding = check_test_person(person(tenor, 3), None)
    assert finding is not None
    assert finding.rule == "test-person"


@pytest.mark.parametrize(("value", "id_type"), [("014170", 9), ("018170", 9), ("208112345678", 10)])
def test_birth_dates_and_duf_numbers_have_no_synthetic_form(value: str, id_type: int) -> None:
    # the month digits of these look synthetic, but they are not a fødselsnummer's
    assert not is_synthetic(value, IdType(id_type))
    assert check_test_person(person(value, id_type), None) is None


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
    finding = check_test_person(person(listed_person), listed)
    assert finding is not None
    assert (finding.rule, finding.severity.value) == ("test-person-listed", "suppress")
    assert check_test_person(person(other), listed) is None


@pytest.mark.parametrize("id_type", [1, 2, 3])
def test_listed_test_persons_are_matched_for_any_id_type(id_type: int) -> None:
    listed_id = h_number(date(1970, 7, 7)) if id_type == 3 else national_id(date(1970, 7, 7))
    finding = check_test_person(person(listed_id, id_type), KnownTestPersons([listed_id]))
    assert finding is not None
    assert finding.rule == "test-person-listed"


def test_the_hashes_differ_between_lists() -> None:
    listed = national_id(date(1970, 7, 7))
    first, second = KnownTestPersons([listed]), KnownTestPersons([listed])
    assert first._digests != second._digests


def test_a_bad_line_in_the_list_is_refused_without_its_content(tmp_path: Path) -> None:
    listed = national_id(date(1970, 7, 7))
    path = tmp_path / "test-persons.txt"
    path.write_text(f"{listed}\n{listed}9\n")
    with pytest.raises(RulesConfigError, match="line 2 is not an 11-digit national id") as caught:
        KnownTestPersons.from_file(path)
    assert listed not in str(caught.value)


def test_a_missing_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesConfigError, match="test person list cannot be read"):
        KnownTestPersons.from_file(tmp_path / "absent.txt")


# Id types 1 and 2: fødselsnummer and D-nummer


@given(born=birth_dates, position=st.integers(0, 10), change=st.integers(1, 9))
@settings(max_examples=50)
def test_any_one_digit_changed_breaks_the_check_digits(
    born: date, position: int, change: int
) -> None:
    real = national_id(born)
    digit = (int(real[position]) + change) % 10
    altered = real[:position] + str(digit) + real[position + 1 :]
    # A changed date digit may also make the date impossible; either way it is refused.
    assert rule_of(altered) in {"national-id-check-digits", "national-id-birth-date"}


@pytest.mark.parametrize("id_type", [1, 2])
def test_wrong_check_digits_are_named(id_type: int) -> None:
    real = national_id(date(1948, 3, 17), d_number=id_type == 2)
    wrong = real[:10] + str((int(real[10]) + 1) % 10)
    finding = check_national_id(person(wrong, id_type))
    assert finding is not None
    assert (finding.rule, finding.severity.value, finding.field) == (
        "national-id-check-digits",
        "reject",
        "person.national_id",
    )


@pytest.mark.parametrize("first_six", ["300250", "320150", "001350", "711150", "290299"])
def test_an_impossible_date_with_valid_check_digits_is_refused(first_six: str) -> None:
    assert rule_of(with_check_digits(first_six)) == "national-id-birth-date"


def test_a_person_not_yet_born_is_refused() -> None:
    tomorrow_next_year = date.today() + timedelta(days=400)
    assert rule_of(national_id(tomorrow_next_year)) == "national-id-birth-date"


@pytest.mark.parametrize("id_type", [1, 2])
def test_an_fh_number_is_refused(id_type: int) -> None:
    finding = check_national_id(person("81234567890", id_type))
    assert finding is not None
    assert finding.rule == "national-id-birth-date"
    assert "FH" in finding.reason_en
    assert "FH" in finding.reason_nb


# Id type 3: H-nummer


@given(born=birth_dates)
@settings(max_examples=50)
def test_h_numbers_with_check_digits_pass(born: date) -> None:
    assert rule_of(h_number(born), 3) is None


def test_an_h_number_with_wrong_check_digits_is_refused() -> None:
    real = h_number(date(1970, 7, 7))
    wrong = real[:10] + str((int(real[10]) + 1) % 10)
    finding = check_national_id(person(wrong, 3))
    assert finding is not None
    assert finding.rule == "national-id-check-digits"
    assert "H-nummer" in finding.reason_en


@pytest.mark.parametrize("first_six", ["070770", "075370", "074070", "079970"])
def test_an_h_number_without_its_month_raised_by_40_is_refused(first_six: str) -> None:
    assert rule_of(with_check_digits(first_six), 3) == "national-id-birth-date"


def test_an_h_number_is_not_held_to_the_fodselsnummer_century_rules() -> None:
    # individual number 500-749 with a year from 40 to 53 gives a fødselsnummer no century
    nine = "074745600"
    k1 = fodselsnummer.calc_check_digit1(nine)
    eleven = nine + k1 + fodselsnummer.calc_check_digit2(nine + k1)
    assert len(eleven) == 11
    assert not fodselsnummer.is_valid(eleven)
    assert rule_of(eleven, 3) is None


# Id type 9: the birth date ddmmyy


@pytest.mark.parametrize("value", ["170348", "290200", "311299", "010105", "290296"])
def test_a_real_birth_date_passes(value: str) -> None:
    assert rule_of(value, 9) is None


@pytest.mark.parametrize("value", ["320148", "001348", "000148", "290201", "310448", "999999"])
def test_an_impossible_birth_date_is_refused(value: str) -> None:
    finding = check_national_id(person(value, 9))
    assert finding is not None
    assert (finding.rule, finding.field) == ("national-id-birth-date", "person.national_id")
    assert "ddmmyy" in finding.reason_en
    assert value not in finding.reason_en


def test_a_birth_date_is_read_in_either_century() -> None:
    next_year = date(date.today().year + 1, 1, 2)
    # read in the 2000s it is in the future; in the 1900s it is a real past date
    assert rule_of(next_year.strftime("%d%m%y"), 9) is None
    # 29 February 2000 existed, 1900 was no leap year
    assert rule_of("290200", 9) is None


# Id type 10: DUF-nummer


@pytest.mark.parametrize("value", [DUF, "000000000000", "999999999999"])
def test_a_duf_number_has_no_check_digits_to_fail(value: str) -> None:
    assert rule_of(value, 10) is None


# KPR-ID


@pytest.mark.parametrize(("value", "id_type"), [(h_number(date(1970, 7, 7)), 3), ("170348", 9)])
def test_an_id_type_without_a_kpr_id_is_a_warning(value: str, id_type: int) -> None:
    finding = check_kpr_id(person(value, id_type))
    assert finding is not None
    assert (finding.rule, finding.severity.value, finding.field) == (
        "no-kpr-id",
        "warn",
        "person.id_type",
    )
    assert f"id type {id_type} (" in finding.reason_en
    assert f"id-type {id_type} (" in finding.reason_nb
    assert value not in finding.reason_en + finding.reason_nb


@pytest.mark.parametrize(
    ("value", "id_type"),
    [
        (national_id(date(1970, 7, 7)), 1),
        (national_id(date(1970, 7, 7), d_number=True), 2),
        (DUF, 10),
    ],
)
def test_an_id_type_with_a_kpr_id_has_no_warning(value: str, id_type: int) -> None:
    assert check_kpr_id(person(value, id_type)) is None


# The fast path: nine digits with valid check digits appended where they exist; most such ids
# pass, and the rest fail on the date or century, so both sides of the fast path are exercised.
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
    # check_fodselsnummer answers a valid id without stdnum: it must agree with stdnum exactly.
    expected = candidate[0] not in "89" and fodselsnummer.is_valid(candidate)
    assert (check_fodselsnummer(candidate) is None) == expected
    if candidate[0] not in "89":
        assert plainly_valid(candidate) == fodselsnummer.is_valid(candidate)
