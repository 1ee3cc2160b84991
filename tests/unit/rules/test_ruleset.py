"""All rules together: the verdict, the catalogue, and no personal data in any reason."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpr_gateway.ledger import EventState
from kpr_gateway.messages.iplos_kpr import FIRST_PHASE_SERVICE_TYPES, Notification
from kpr_gateway.tenancy import Tenant
from kpr_gateway.transform.rules import (
    RULES,
    RULES_BY_ID,
    KnownTestPersons,
    RuleSet,
    Severity,
    Verdict,
    check_event,
    default_rules,
)
from tests.unit.rules.support import (
    DUF,
    PERSON,
    TRONDHEIM_ORG,
    event,
    h_number,
    national_id,
    tenant,
)

BERGEN = tenant()
TRONDHEIM = tenant(id="trondheim", municipality_number="5001", org_number=TRONDHEIM_ORG)
SYNTHETIC = national_id(date(1990, 4, 4), month_offset=80)
WRONG_CHECK_DIGIT = PERSON[:10] + str((int(PERSON[10]) + 1) % 10)
FIRST_PHASE = RuleSet(reported_service_types=FIRST_PHASE_SERVICE_TYPES)


def rules_of(verdict: Verdict) -> list[str]:
    return [f.rule for f in verdict.findings]


def test_a_valid_event_is_sent_under_its_number() -> None:
    assert RuleSet().check(event(), BERGEN) == Verdict(None, (), "4601")


def test_a_test_person_is_suppressed_whatever_else_is_wrong() -> None:
    broken = event(national_id=SYNTHETIC, municipality_number="9999", service_type="6")
    for rules in (RuleSet(), FIRST_PHASE):
        verdict = rules.check(broken, BERGEN)
        assert verdict.state is EventState.SUPPRESSED_TEST_PERSON
        assert rules_of(verdict) == ["test-person"]
        assert verdict.municipality_number is None


def test_a_test_person_wins_over_not_reportable() -> None:
    verdict = FIRST_PHASE.check(event(national_id=SYNTHETIC, service_type="15"), BERGEN)
    assert verdict.state is EventState.SUPPRESSED_TEST_PERSON


def test_listed_test_persons_are_per_tenant() -> None:
    rules = RuleSet(test_persons={"bergen": KnownTestPersons([PERSON])})
    verdict = rules.check(event(), BERGEN)
    assert verdict.state is EventState.SUPPRESSED_TEST_PERSON
    assert rules_of(verdict) == ["test-person-listed"]
    assert rules.check(event(municipality_number="5001"), TRONDHEIM).state is None


def test_every_problem_is_reported_at_once() -> None:
    verdict = FIRST_PHASE.check(
        event(
            national_id=WRONG_CHECK_DIGIT,
            municipality_number="5001",
            kind="provider_changed",
            provider_org_number="123456789",
            service_type="6",
        ),
        BERGEN,
    )
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict) == [
        "national-id-check-digits",
        "municipality-not-tenant",
        "provider-org-number-check-digit",
        "service-code-obsolete",
    ]
    assert [r.rule for r in verdict.reasons] == rules_of(verdict)
    assert verdict.reasons[0].field == "person.national_id"
    assert " / " in verdict.reasons[0].reason


def test_a_rejected_event_keeps_its_warnings() -> None:
    verdict = RuleSet().check(event(national_id="320148", id_type=9), BERGEN)
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict) == ["national-id-birth-date", "no-kpr-id"]


def test_warnings_alone_still_send_the_event() -> None:
    early = event(
        municipality_number="1201", event_date="2019-02-01", national_id="170348", id_type=9
    )
    verdict = RuleSet().check(early, BERGEN)
    assert verdict.state is None
    assert rules_of(verdict) == ["no-kpr-id", "municipality-earlier-number"]
    assert [f.severity for f in verdict.findings] == [Severity.WARN, Severity.WARN]
    assert verdict.municipality_number == "1201"


@pytest.mark.parametrize(
    ("value", "id_type", "warned"),
    [
        (PERSON, 1, False),
        (national_id(date(1948, 3, 17), d_number=True), 2, False),
        (h_number(date(1948, 3, 17)), 3, True),
        ("170348", 9, True),
        (DUF, 10, False),
    ],
)
def test_every_id_type_is_sent(value: str, id_type: int, warned: bool) -> None:
    verdict = RuleSet().check(event(national_id=value, id_type=id_type), BERGEN)
    assert verdict.state is None
    assert rules_of(verdict) == (["no-kpr-id"] if warned else [])


def test_check_event_uses_the_default_rules() -> None:
    assert check_event(event(), BERGEN) == Verdict(None, (), "4601")
    assert check_event(event(national_id=SYNTHETIC), BERGEN).state is (
        EventState.SUPPRESSED_TEST_PERSON
    )
    assert default_rules() is default_rules()
    assert default_rules().reported_service_types is None


def test_the_catalogue_has_unique_ids_and_both_languages() -> None:
    assert len(RULES_BY_ID) == len(RULES)
    for rule in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id)
        assert rule.summary_en
        assert rule.summary_nb
        assert rule.field in Notification.model_fields or (rule.field.startswith("person."))
    suppressing = {r.id for r in RULES if r.severity is Severity.SUPPRESS}
    assert suppressing == {"test-person", "test-person-listed"}
    not_reportable = {r.id for r in RULES if r.severity is Severity.NOT_REPORTABLE}
    assert not_reportable == {"service-type-not-reported"}


# One event per rule that this rule alone objects to (besides warnings it needs).
_LISTING = RuleSet(test_persons={"bergen": KnownTestPersons([PERSON])})
EXAMPLES: dict[str, tuple[RuleSet, dict[str, Any], Tenant]] = {
    "test-person": (RuleSet(), {"national_id": SYNTHETIC}, BERGEN),
    "test-person-listed": (_LISTING, {}, BERGEN),
    "national-id-check-digits": (RuleSet(), {"national_id": WRONG_CHECK_DIGIT}, BERGEN),
    "national-id-birth-date": (RuleSet(), {"national_id": "81234567890"}, BERGEN),
    "no-kpr-id": (RuleSet(), {"national_id": "170348", "id_type": 9}, BERGEN),
    "municipality-number-unknown": (RuleSet(), {"municipality_number": "9999"}, BERGEN),
    "municipality-number-not-valid-on-date": (RuleSet(), {"event_date": "2019-05-01"}, BERGEN),
    "municipality-not-tenant": (RuleSet(), {"municipality_number": "5001"}, BERGEN),
    "municipality-earlier-number": (
        RuleSet(),
        {"municipality_number": "1201", "event_date": "2019-05-01"},
        BERGEN,
    ),
    "provider-org-number-check-digit": (RuleSet(), {"provider_org_number": "123456789"}, BERGEN),
    "service-code-obsolete": (RuleSet(), {"service_type": "27"}, BERGEN),
    "service-type-not-reported": (FIRST_PHASE, {"service_type": "15"}, BERGEN),
}
_STATE_OF = {
    Severity.SUPPRESS: EventState.SUPPRESSED_TEST_PERSON,
    Severity.REJECT: EventState.REJECTED_INVALID,
    Severity.NOT_REPORTABLE: EventState.NOT_REPORTABLE,
    Severity.WARN: None,
}


def test_every_rule_has_an_example() -> None:
    assert set(EXAMPLES) == set(RULES_BY_ID)


@pytest.mark.parametrize("rule_id", sorted(EXAMPLES))
def test_each_rule_decides_its_example(rule_id: str) -> None:
    rules, overrides, who = EXAMPLES[rule_id]
    verdict = rules.check(event(**overrides), who)
    assert rules_of(verdict) == [rule_id]
    known = RULES_BY_ID[rule_id]
    assert (verdict.findings[0].severity, verdict.findings[0].field) == (
        known.severity,
        known.field,
    )
    assert verdict.state is _STATE_OF[known.severity]
    # without the one thing wrong, the event passes
    clean = RuleSet().check(event(), who)
    assert (clean.state, clean.findings) == (None, ())


# Events of every shape the rules react to: real, synthetic and broken ids of every type, any
# municipality number of the table or none, any code, dates across the reforms, providers
# good and bad.
def _of_type(id_type: int, values: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, int]]:
    return values.map(lambda value: (value, id_type))


born = st.dates(date(1920, 1, 1), date(2020, 12, 31))
people = st.one_of(
    _of_type(1, born.map(national_id)),
    _of_type(2, born.map(lambda d: national_id(d, d_number=True))),
    _of_type(1, born.map(lambda d: national_id(d, month_offset=80))),
    _of_type(1, st.from_regex(r"[0-9]{11}", fullmatch=True)),
    _of_type(3, born.map(h_number)),
    _of_type(3, st.from_regex(r"[0-9]{11}", fullmatch=True)),
    _of_type(9, st.from_regex(r"[0-9]{6}", fullmatch=True)),
    _of_type(10, st.from_regex(r"[0-9]{12}", fullmatch=True)),
)
numbers = st.sampled_from(["4601", "1201", "5001", "1601", "3024", "3201", "9999", "1507", "1580"])
codes = st.sampled_from(["1", "6", "12", "13", "15", "16", "21", "26", "29"])
days = st.dates(date(2015, 1, 1), date(2026, 12, 31))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    value, id_type = draw(people)
    data: dict[str, Any] = {
        "national_id": value,
        "id_type": id_type,
        "municipality_number": draw(numbers),
        "service_type": draw(codes),
        "event_date": draw(days).isoformat(),
    }
    if draw(st.booleans()):
        data["provider_org_number"] = draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    return data


@given(
    data=events(),
    who=st.sampled_from([BERGEN, TRONDHEIM]),
    rules=st.sampled_from([RuleSet(), FIRST_PHASE]),
)
@settings(max_examples=100, deadline=None)
def test_reasons_never_carry_the_national_id(data: dict[str, Any], who: Any, rules: Any) -> None:
    verdict = rules.check(event(**data), who)
    for finding in verdict.findings:
        known = RULES_BY_ID[finding.rule]
        assert (finding.severity, finding.field) == (known.severity, known.field)
        for text in (finding.reason_en, finding.reason_nb, finding.as_reason().reason):
            assert data["national_id"] not in text
            assert not re.search(r"[0-9]{6,}", text)
    severities = {f.severity for f in verdict.findings}
    if Severity.SUPPRESS in severities:
        assert verdict.state is EventState.SUPPRESSED_TEST_PERSON
        assert len(verdict.findings) == 1
    elif Severity.REJECT in severities:
        assert verdict.state is EventState.REJECTED_INVALID
        assert Severity.NOT_REPORTABLE not in severities
    elif Severity.NOT_REPORTABLE in severities:
        assert verdict.state is EventState.NOT_REPORTABLE
    else:
        assert verdict.state is None
    assert (verdict.municipality_number is not None) == (verdict.state is None)
