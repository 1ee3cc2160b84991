"""The test helper's check digits agree with published examples, and its ids are synthetic."""

from __future__ import annotations

from tests.unit.iplos_kpr.synthetic import (
    duf_check_digits,
    has_valid_check_digits,
    has_valid_duf_check_digits,
    org_number_with_check_digit,
    synthetic_duf_number,
    synthetic_national_id,
)


def test_known_national_ids() -> None:
    # python-stdnum's documented example of a valid fødselsnummer, and a broken copy.
    assert has_valid_check_digits("15108695088")
    assert not has_valid_check_digits("15108695077")
    assert not has_valid_check_digits("1510869508")


def test_known_org_number() -> None:
    assert org_number_with_check_digit("98807791") == "988077917"


def test_synthetic_ids_have_their_offsets_and_valid_check_digits() -> None:
    fnr = synthetic_national_id(14, 3, 1948, 123)
    d_number = synthetic_national_id(23, 7, 1990, 210, d_number=True)
    h_number = synthetic_national_id(2, 11, 1975, 400, h_number=True)
    assert fnr[2:4] == "83"
    assert d_number[:4] == "6387"
    assert h_number[:4] == "0251"
    assert all(has_valid_check_digits(nid) for nid in (fnr, d_number, h_number))


def test_duf_numbers() -> None:
    duf = synthetic_duf_number(2015, 123456)
    assert duf.startswith("2015123456")
    assert len(duf) == 12
    assert has_valid_duf_check_digits(duf)
    # The sum runs over the serial first, then the year: 1*4+2*6+3*3+4*2+5*7+6*5+2*4+0*6+1*3+5*2
    assert (
        duf_check_digits("2015123456") == f"{(4 + 12 + 9 + 8 + 35 + 30 + 8 + 0 + 3 + 10) % 11:02d}"
    )
    wrong = duf[:10] + f"{(int(duf[10:]) + 1) % 100:02d}"
    assert not has_valid_duf_check_digits(wrong)
