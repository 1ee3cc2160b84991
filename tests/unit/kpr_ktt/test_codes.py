from __future__ import annotations

import re
from datetime import date

import pytest

from kpr_gateway.messages.kpr_ktt_v1 import SERVICE_TYPES, EventStatus, service_type


@pytest.mark.parametrize("code", ["12", "13", "16"])
def test_codes_12_13_16_are_obsolete_since_2019_with_a_replacement(code: str) -> None:
    row = SERVICE_TYPES[code]
    assert row.obsolete_since == date(2019, 1, 1)
    assert row.replacement
    assert row.is_obsolete_on(date(2019, 1, 1))
    assert not row.is_obsolete_on(date(2018, 12, 31))


def test_housing_replacement_points_to_29() -> None:
    assert "29" in (SERVICE_TYPES["12"].replacement or "")
    assert "29" in (SERVICE_TYPES["13"].replacement or "")
    housing = SERVICE_TYPES["29"]
    assert housing.obsolete_since is None
    assert "bolig" in housing.name_nb.lower()


def test_rehabilitation_replacement_says_it_is_reported_on_the_person() -> None:
    assert "person" in (SERVICE_TYPES["16"].replacement or "")


def test_welfare_technology_has_its_own_codes() -> None:
    welfare = {code for code, row in SERVICE_TYPES.items() if row.welfare_technology}
    assert welfare == {"6", "26", "27", "28"}
    assert SERVICE_TYPES["6"].name_en == "Safety alarm"


@pytest.mark.parametrize(
    ("code", "english"),
    [
        ("1", "Practical assistance - daily tasks"),
        ("3", "Practical assistance - user-controlled personal assistance (BPA)"),
        ("4", "Day activity centre"),
        ("5", "Meal delivery"),
        ("9", "Support contact"),
        ("15", "Home health care (home nursing)"),
        ("21", "Long-term stay in an institution"),
    ],
)
def test_well_known_services(code: str, english: str) -> None:
    assert SERVICE_TYPES[code].name_en == english


def test_every_row_is_complete_and_keyed_by_its_code() -> None:
    for code, row in SERVICE_TYPES.items():
        assert row.code == code
        assert re.fullmatch(r"[1-9][0-9]{0,2}", code)
        assert row.name_nb
        assert row.name_en
        assert (row.obsolete_since is None) == (row.replacement is None)


def test_service_type_lookup() -> None:
    assert service_type("15") is SERVICE_TYPES["15"]
    assert service_type("99") is None
    assert service_type("015") is None


def test_status_letters_and_meanings() -> None:
    assert [status.value for status in EventStatus] == ["N", "M", "T", "C"]
    assert EventStatus("M").meaning.startswith("correction that replaces")
    assert EventStatus("T").meaning.startswith("correction that supplements")
    assert "cancel" in EventStatus.CANCEL.meaning
