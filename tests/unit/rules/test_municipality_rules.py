"""The municipality number: valid on the event date, the tenant's or one it took over."""

from __future__ import annotations

from typing import Any

import pytest

from kpr_gateway.transform.rules import RuleSet, Verdict
from tests.unit.rules.support import TRONDHEIM_ORG, event, tenant

RULES = RuleSet()
BERGEN = tenant()
TRONDHEIM = tenant(id="trondheim", municipality_number="5001", org_number=TRONDHEIM_ORG)
KRISTIANSAND = tenant(id="kristiansand", municipality_number="4204")
BAERUM = tenant(id="baerum", municipality_number="3201")
HARAM = tenant(id="haram", municipality_number="1580")


def on(day: str) -> dict[str, Any]:
    return {"event_date": day}


def rules_of(verdict: Verdict) -> list[str]:
    return [f.rule for f in verdict.findings]


def test_the_current_number_on_a_current_date_passes() -> None:
    verdict = RULES.check(event(), BERGEN)
    assert (verdict.state, verdict.findings, verdict.municipality_number) == (None, (), "4601")


@pytest.mark.parametrize(
    ("who", "number", "day"),
    [
        (BERGEN, "1201", "2019-12-31"),
        (BAERUM, "3024", "2023-12-31"),
        (BAERUM, "0219", "2018-06-01"),
        (TRONDHEIM, "1601", "2017-03-01"),
        (TRONDHEIM, "5030", "2019-03-01"),  # Klæbu, taken over by Trondheim in 2020
        (TRONDHEIM, "1662", "2017-03-01"),  # Klæbu before Trøndelag
        (HARAM, "1507", "2022-03-01"),  # Haram was part of Ålesund 2020-2023
        (HARAM, "1534", "2019-03-01"),
        (KRISTIANSAND, "1018", "2019-03-01"),  # Søgne
    ],
)
def test_an_earlier_number_valid_on_the_date_is_sent_under_that_number(
    who: Any, number: str, day: str
) -> None:
    verdict = RULES.check(event(municipality_number=number, **on(day)), who)
    assert verdict.state is None
    assert verdict.municipality_number == number
    assert rules_of(verdict) == ["municipality-earlier-number"]
    finding = verdict.findings[0]
    assert finding.severity.value == "warn"
    assert number in finding.reason_en
    assert number in finding.reason_nb
    assert who.municipality_number in finding.reason_en
    assert finding.reason_en.startswith(f"the event of {day} is reported under")


def test_the_current_number_on_an_earlier_date_is_refused_naming_the_number_then() -> None:
    verdict = RULES.check(event(**on("2019-05-01")), BERGEN)
    assert verdict.state is not None
    assert verdict.state.value == "rejected_invalid"
    assert verdict.municipality_number is None
    assert rules_of(verdict) == ["municipality-number-not-valid-on-date"]
    finding = verdict.findings[0]
    assert "2019-05-01" in finding.reason_en
    assert "from 2020-01-01" in finding.reason_en
    assert finding.reason_en.endswith("the municipality's number on that day was 1201 Bergen")
    assert finding.reason_nb.endswith("kommunens nummer den dagen var 1201 Bergen")


def test_after_a_merger_the_same_named_municipality_is_named_first() -> None:
    verdict = RULES.check(event(municipality_number="4204", **on("2018-03-01")), KRISTIANSAND)
    assert rules_of(verdict) == ["municipality-number-not-valid-on-date"]
    assert verdict.findings[0].reason_en.endswith(
        "was 1001 Kristiansand or 1017 Songdalen or 1018 Søgne"
    )


def test_an_earlier_number_after_its_end_is_refused_naming_the_current_one() -> None:
    verdict = RULES.check(event(municipality_number="3024"), BAERUM)
    assert rules_of(verdict) == ["municipality-number-not-valid-on-date"]
    reason = verdict.findings[0].reason_en
    assert "from 2020-01-01 to 2023-12-31" in reason
    assert reason.endswith("was 3201 Bærum")
    assert "fra 2020-01-01 til og med 2023-12-31" in verdict.findings[0].reason_nb


def test_a_number_valid_when_the_table_begins_reads_until() -> None:
    verdict = RULES.check(event(municipality_number="1201"), BERGEN)
    assert "it was valid until 2019-12-31" in verdict.findings[0].reason_en
    assert "det gjaldt til og med 2019-12-31" in verdict.findings[0].reason_nb


def test_another_municipality_is_refused() -> None:
    verdict = RULES.check(event(municipality_number="5001"), BERGEN)
    assert rules_of(verdict) == ["municipality-not-tenant"]
    assert verdict.findings[0].reason_en == (
        "municipality 5001 Trondheim is neither 4601 Bergen, the one this client reports for, "
        "nor one it took over"
    )


def test_another_municipality_with_a_stale_number_gets_both_findings() -> None:
    verdict = RULES.check(event(municipality_number="3024"), BERGEN)
    assert rules_of(verdict) == ["municipality-number-not-valid-on-date", "municipality-not-tenant"]
    assert "the municipality's number" not in verdict.findings[0].reason_en


def test_a_municipality_that_went_elsewhere_in_a_split_is_not_the_tenants() -> None:
    # Snillfjord (5012) went to Heim, Hitra and Orkland, not to Trondheim
    verdict = RULES.check(event(municipality_number="5012", **on("2019-03-01")), TRONDHEIM)
    assert rules_of(verdict) == ["municipality-not-tenant"]


def test_an_unknown_number_is_refused() -> None:
    verdict = RULES.check(event(municipality_number="9999"), BERGEN)
    assert rules_of(verdict) == ["municipality-number-unknown"]
    assert "9999" in verdict.findings[0].reason_nb


def test_an_event_before_the_table_begins_is_judged_as_of_its_first_day() -> None:
    old = on("2012-04-01")
    assert RULES.check(event(municipality_number="1201", **old), BERGEN).state is None
    refused = RULES.check(event(**old), BERGEN)
    assert rules_of(refused) == ["municipality-number-not-valid-on-date"]
    assert refused.findings[0].reason_en.endswith("was 1201 Bergen")


def test_the_event_date_decides_the_number() -> None:
    assert RULES.check(event(municipality_number="1201", **on("2019-12-31")), BERGEN).state is None
    assert RULES.check(event(**on("2019-12-31")), BERGEN).state is not None
    renumbered = RULES.check(event(municipality_number="1201", **on("2020-01-01")), BERGEN)
    assert renumbered.state is not None
    assert "not in use on the event date 2020-01-01" in renumbered.findings[0].reason_en
    assert "gjaldt ikke på hendelsesdatoen 2020-01-01" in renumbered.findings[0].reason_nb
