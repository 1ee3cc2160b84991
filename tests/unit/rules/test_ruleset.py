"""All rules together: the verdict, the catalogue, and no personal data in any reason."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kpr_gateway.ledger import EventState
from kpr_gateway.transform.rules import (
    RULES,
    RULES_BY_ID,
    KnownTestPersons,
    RuleSet,
    Severity,
    Verdict,
    check_event,
)
from tests.unit.rules.support import PERSON, TRONDHEIM_ORG, event, national_id, tenant

BERGEN = tenant()
TRONDHEIM = tenant(id="trondheim", municipality_number="5001", org_number=TRONDHEIM_ORG)
SYNTHETIC = national_id(date(1990, 4, 4), month_offset=80)


def rules_of(verdict: Verdict) -> list[str]:
    return [f.rule for f in verdict.findings]


def test_a_test_person_is_suppressed_whatever_else_is_wrong() -> None:
    broken = event(national_id=SYNTHETIC, municipality_number="9999", service_code="12")
    verdict = RuleSet().check(broken, BERGEN)
    assert verdict.state is EventState.SUPPRESSED_TEST_PERSON
    assert rules_of(verdict) == ["test-person"]
    assert verdict.municipality_number is None


def test_listed_test_persons_are_per_tenant() -> None:
    rules = RuleSet(test_persons={"bergen": KnownTestPersons([PERSON])})
    verdict = rules.check(event(), BERGEN)
    assert verdict.state is EventState.SUPPRESSED_TEST_PERSON
    assert rules_of(verdict) == ["test-person-listed"]
    assert rules.check(event(municipality_number="5001"), TRONDHEIM).state is None


def test_every_problem_is_reported_at_once() -> None:
    wrong = PERSON[:10] + str((int(PERSON[10]) + 1) % 10)
    verdict = RuleSet().check(
        event(
            national_id=wrong,
            municipality_number="5001",
            provider_org_number="123456789",
            service_code="6",
            hours_per_week="2",
        ),
        BERGEN,
    )
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict) == [
        "national-id-check-digits",
        "municipality-not-tenant",
        "provider-org-number-check-digit",
        "welfare-technology-hours",
    ]
    assert [r.rule for r in verdict.reasons] == rules_of(verdict)
    assert verdict.reasons[0].field == "national_id"
    assert " / " in verdict.reasons[0].reason


def test_a_warning_alone_still_sends_the_event() -> None:
    early = event(municipality_number="1201", decision_date="2019-02-01", start_date="2019-02-01")
    verdict = RuleSet().check(early, BERGEN)
    assert verdict.state is None
    assert [f.severity for f in verdict.findings] == [Severity.WARN]
    assert verdict.municipality_number == "1201"


def test_check_event_uses_the_default_rules() -> None:
    assert check_event(event(), BERGEN) == Verdict(None, (), "4601")
    assert check_event(event(national_id=SYNTHETIC), BERGEN).state is (
        EventState.SUPPRESSED_TEST_PERSON
    )


def test_the_catalogue_has_unique_ids_and_both_languages() -> None:
    assert len(RULES_BY_ID) == len(RULES)
    for rule in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id)
        assert rule.summary_en
        assert rule.summary_nb
    suppressing = {r.id for r in RULES if r.severity is Severity.SUPPRESS}
    assert suppressing == {"test-person", "test-person-listed"}


# Events of every shape the rules react to: real, synthetic and broken ids, any municipality
# number of the table or none, any code, dates across the reforms, providers good and bad.
people = st.one_of(
    st.dates(date(1920, 1, 1), date(2020, 12, 31)).map(national_id),
    st.dates(date(1920, 1, 1), date(2020, 12, 31)).map(lambda d: national_id(d, d_number=True)),
    st.dates(date(1920, 1, 1), date(2020, 12, 31)).map(lambda d: national_id(d, month_offset=80)),
    st.from_regex(r"[0-9]{11}", fullmatch=True),
)
numbers = st.sampled_from(["4601", "1201", "5001", "1601", "3024", "3201", "9999", "1507", "1580"])
codes = st.sampled_from(["1", "6", "12", "13", "15", "16", "26", "27", "28", "29"])
days = st.dates(date(2015, 1, 1), date(2026, 12, 31))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    decided = draw(days)
    data: dict[str, Any] = {
        "national_id": draw(people),
        "municipality_number": draw(numbers),
        "service_code": draw(codes),
        "decision_date": decided.isoformat(),
        "start_date": (decided + timedelta(days=draw(st.integers(0, 30)))).isoformat(),
    }
    if draw(st.booleans()):
        data["hours_per_week"] = "4"
    if draw(st.booleans()):
        data["provider_org_number"] = draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    return data


@given(data=events(), who=st.sampled_from([BERGEN, TRONDHEIM]))
@settings(max_examples=50, deadline=None)
def test_reasons_never_carry_the_national_id(data: dict[str, Any], who: Any) -> None:
    verdict = RuleSet().check(event(**data), who)
    for finding in verdict.findings:
        known = RULES_BY_ID[finding.rule]
        assert (finding.severity, finding.field) == (known.severity, known.field)
        for text in (finding.reason_en, finding.reason_nb, finding.as_reason().reason):
            assert data["national_id"] not in text
            assert not re.search(r"[0-9]{9,}", text)
    rejected = any(f.severity is Severity.REJECT for f in verdict.findings)
    suppressed = any(f.severity is Severity.SUPPRESS for f in verdict.findings)
    assert (verdict.state is EventState.REJECTED_INVALID) == (rejected and not suppressed)
    assert (verdict.state is EventState.SUPPRESSED_TEST_PERSON) == suppressed
    assert (verdict.municipality_number is not None) == (verdict.state is None)
