"""The municipality table shipped with kpr_gateway.reference: consistent, and right about the
reforms."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from kpr_gateway.reference import (
    MunicipalityTable,
    ReferenceDataError,
    load_municipalities,
)

TABLE = load_municipalities()


@pytest.mark.parametrize(
    ("day", "count"),
    [
        (date(2017, 1, 1), 426),
        (date(2017, 12, 31), 426),
        (date(2018, 1, 1), 422),
        (date(2019, 1, 1), 422),
        (date(2019, 12, 31), 422),
        (date(2020, 1, 1), 356),
        (date(2023, 12, 31), 356),
        (date(2024, 1, 1), 357),
        (date(2026, 6, 1), 357),
    ],
)
def test_the_number_of_municipalities_matches_each_reform(day: date, count: int) -> None:
    assert len(TABLE.valid_on(day)) == count


def test_every_successor_takes_over_on_the_day_its_predecessor_ends() -> None:
    for day in (date(2017, 1, 1), date(2018, 1, 1), date(2019, 1, 1), date(2020, 1, 1)):
        for period in TABLE.valid_on(day):
            if period.valid_to is None:
                assert period.successors == ()
                continue
            assert period.successors, period.number
            for successor in period.successors:
                taking_over = TABLE.on(successor, period.valid_to)
                assert taking_over is not None, (period.number, successor)
                assert taking_over.valid_from == period.valid_to


def test_no_number_is_in_use_twice_on_one_day() -> None:
    for day in (date(2017, 6, 1), date(2018, 6, 1), date(2020, 6, 1), date(2024, 6, 1)):
        numbers = Counter(p.number for p in TABLE.valid_on(day))
        assert max(numbers.values()) == 1


def test_every_municipality_of_2017_leads_to_a_current_one() -> None:
    today = date(2026, 1, 1)
    current = {p.number for p in TABLE.valid_on(today)}
    reached = set().union(*(TABLE.lineage(n) for n in current))
    assert {p.number for p in TABLE.valid_on(date(2017, 1, 1))} <= reached


@pytest.mark.parametrize(
    ("number", "day", "name"),
    [
        ("0301", date(2017, 1, 1), "Oslo"),
        ("0301", date(2026, 1, 1), "Oslo"),
        ("1201", date(2019, 12, 31), "Bergen"),
        ("4601", date(2020, 1, 1), "Bergen"),
        ("1601", date(2017, 12, 31), "Trondheim"),
        ("5001", date(2018, 1, 1), "Trondheim"),
        ("5030", date(2019, 6, 1), "Klæbu"),
        ("3024", date(2023, 12, 31), "Bærum"),
        ("3201", date(2024, 1, 1), "Bærum"),
        ("1507", date(2022, 1, 1), "Ålesund"),
        ("1508", date(2024, 1, 1), "Ålesund"),
        ("1580", date(2024, 1, 1), "Haram"),
        ("5061", date(2019, 1, 1), "Rindal"),
        ("1567", date(2018, 12, 31), "Rindal"),
        ("5401", date(2020, 1, 1), "Tromsø"),
        ("5501", date(2024, 1, 1), "Tromsø"),
        ("3817", date(2020, 1, 1), "Midt-Telemark"),
        ("4020", date(2024, 1, 1), "Midt-Telemark"),
        ("1103", date(2017, 1, 1), "Stavanger"),
        ("1103", date(2026, 1, 1), "Stavanger"),
        ("1804", date(2026, 1, 1), "Bodø"),
    ],
)
def test_a_number_is_valid_on_its_days(number: str, day: date, name: str) -> None:
    period = TABLE.on(number, day)
    assert period is not None
    assert period.name == name


@pytest.mark.parametrize(
    ("number", "day"),
    [
        ("1201", date(2020, 1, 1)),  # Bergen became 4601
        ("4601", date(2019, 12, 31)),
        ("1601", date(2018, 1, 1)),  # Trøndelag
        ("5030", date(2020, 1, 1)),  # Klæbu merged into Trondheim
        ("3024", date(2024, 1, 1)),  # Viken split up
        ("1507", date(2024, 1, 1)),  # Haram left Ålesund
        ("1567", date(2019, 1, 1)),  # Rindal moved county
        ("9999", date(2024, 1, 1)),
    ],
)
def test_a_number_is_not_valid_outside_its_days(number: str, day: date) -> None:
    assert TABLE.on(number, day) is None


def test_days_before_the_table_begins_are_answered_as_of_its_first_day() -> None:
    assert TABLE.first_day == date(2017, 1, 1)
    assert TABLE.on("1201", date(2009, 5, 1)) is not None
    assert TABLE.on("4601", date(2009, 5, 1)) is None


def test_a_lineage_holds_earlier_numbers_and_the_municipalities_taken_over() -> None:
    assert TABLE.lineage("5001") == {"5001", "1601", "5030", "1662"}
    assert TABLE.lineage("4601") == {"4601", "1201"}
    assert TABLE.lineage("0301") == {"0301"}
    # Haram left Ålesund in 2024: both successors lead back through 1507
    assert {"1507", "1534", "1504"} <= TABLE.lineage("1580")
    assert {"1507", "1534", "1504"} <= TABLE.lineage("1508")
    # Snillfjord was split three ways in 2020
    for successor in ("5055", "5056", "5059"):
        assert "5012" in TABLE.lineage(successor)
        assert "1613" in TABLE.lineage(successor)
    assert "5012" not in TABLE.lineage("5001")


def test_last_day_is_the_day_before_valid_to() -> None:
    period = TABLE.on("3024", date(2022, 1, 1))
    assert period is not None
    assert period.valid_to == date(2024, 1, 1)
    assert period.last_day == date(2024, 1, 1) - timedelta(days=1)
    current = TABLE.on("3201", date(2026, 1, 1))
    assert current is not None
    assert current.last_day is None


HEADER = "# comment\nnumber,name,valid_from,valid_to,successors\n"


def test_a_small_table_parses_with_comments_and_blank_lines() -> None:
    table = MunicipalityTable.from_csv(
        HEADER + "\n0101,Old,2017-01-01,2020-01-01,3001\n# note\n3001,New,2020-01-01,,\n",
        source="t.csv",
    )
    assert table.lineage("3001") == {"0101", "3001"}
    assert "0101" in table
    assert "0102" not in table


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("101,Short,2017-01-01,,", "t.csv: line 3: number must be 4 digits"),
        ("0101,,2017-01-01,,", "t.csv: line 3: name is empty"),
        ("0101,A,2017-01-01", "t.csv: line 3: expected 5 columns, found 3"),
        ("0101,A,2017-13-01,,", "t.csv: line 3: "),
        ("0101,A,2020-01-01,2019-01-01,3001", "valid_to must be after valid_from"),
        ("0101,A,2017-01-01,,3001", "a number still in use has no successors"),
        ("0101,A,2017-01-01,2020-01-01,301", "successors must be 4-digit numbers"),
        ("0101,A,2017-01-01,2020-01-01,3001", "municipality 0101 names unknown successor 3001"),
        (
            "0101,A,2017-01-01,2021-01-01,0101\n0101,B,2020-01-01,,",
            "municipality 0101 has overlapping periods",
        ),
    ],
)
def test_a_broken_table_is_refused_with_its_line(rows: str, expected: str) -> None:
    with pytest.raises(ReferenceDataError) as caught:
        MunicipalityTable.from_csv(HEADER + rows + "\n", source="t.csv")
    assert expected in str(caught.value)


def test_a_table_without_its_header_row_is_refused() -> None:
    with pytest.raises(ReferenceDataError, match="the first row must be number,name"):
        MunicipalityTable.from_csv("0101,A,2017-01-01,,\n", source="t.csv")
    with pytest.raises(ReferenceDataError, match="the municipality table is empty"):
        MunicipalityTable([])
