"""The service: its type valid on the event's date and reported by the release, the provider's
number mod-11."""

from __future__ import annotations

from datetime import date

import pytest

from kpr_gateway.ledger import EventState
from kpr_gateway.messages.iplos_kpr import FIRST_PHASE_SERVICE_TYPES, SERVICE_TYPES
from kpr_gateway.transform.rules import RulesConfigError, RuleSet, Severity, Verdict
from tests.unit.rules.support import BERGEN_ORG, TRONDHEIM_ORG, event, tenant

RULES = RuleSet()
FIRST_PHASE = RuleSet(reported_service_types=FIRST_PHASE_SERVICE_TYPES)
BERGEN = tenant()
# Bergen's number in 2018 (4601 since 2020): an event then is sent with a warning.
IN_2018 = {"municipality_number": "1201", "event_date": "2018-12-31"}
IN_2019 = {"municipality_number": "1201", "event_date": "2019-01-01"}


def rules_of(verdict: Verdict) -> list[str]:
    return [f.rule for f in verdict.findings]


@pytest.mark.parametrize("code", ["12", "13", "16"])
def test_a_code_that_ended_with_2018_is_valid_for_a_2018_event(code: str) -> None:
    verdict = RULES.check(event(service_type=code, **IN_2018), BERGEN)
    assert verdict.state is None
    assert rules_of(verdict) == ["municipality-earlier-number"]


@pytest.mark.parametrize(
    ("code", "replacement_en", "replacement_nb"),
    [
        ("12", "report housing as service type 29", "bolig rapporteres som tjenestetype 29"),
        ("13", "report housing as service type 29", "bolig rapporteres som tjenestetype 29"),
        ("16", "reported as information on the person", "opplysning om personen"),
    ],
)
def test_a_code_that_ended_with_2018_is_refused_from_2019_with_its_replacement(
    code: str, replacement_en: str, replacement_nb: str
) -> None:
    verdict = RULES.check(event(service_type=code, **IN_2019), BERGEN)
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict) == ["municipality-earlier-number", "service-code-obsolete"]
    finding = verdict.findings[1]
    assert (finding.field, finding.severity) == ("service_type", Severity.REJECT)
    assert f"service type {code} ({SERVICE_TYPES[code].name_nb})" in finding.reason_en
    assert "obsolete since 2019-01-01, before the event date 2019-01-01" in finding.reason_en
    assert replacement_en in finding.reason_en
    assert f"tjenestetype {code} (" in finding.reason_nb
    assert "utgått fra 2019-01-01" in finding.reason_nb
    assert replacement_nb in finding.reason_nb


WITHDRAWN = sorted(
    (code for code, service in SERVICE_TYPES.items() if service.withdrawn is not None), key=int
)


def test_the_withdrawn_codes_are_those_marked_utgatt_in_56() -> None:
    assert WITHDRAWN == ["6", "14", "23", "24", "26", "27", "28"]


@pytest.mark.parametrize("code", WITHDRAWN)
@pytest.mark.parametrize("dated", [{}, IN_2018])
def test_a_withdrawn_code_is_refused_with_the_official_comment(
    code: str, dated: dict[str, str]
) -> None:
    verdict = RULES.check(event(service_type=code, **dated), BERGEN)
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict)[-1] == "service-code-obsolete"
    finding = verdict.findings[-1]
    comment = SERVICE_TYPES[code].withdrawn
    assert comment is not None
    assert comment in finding.reason_en
    assert comment in finding.reason_nb
    assert f"service type {code} (" in finding.reason_en


CURRENT: list[str] = sorted(
    (code for code, service in SERVICE_TYPES.items() if service.is_valid_on(date.today())),
    key=int,
)


def test_the_current_codes_are_the_list_without_withdrawn_and_ended_ones() -> None:
    assert len(CURRENT) == len(SERVICE_TYPES) - len(WITHDRAWN) - 3


@pytest.mark.parametrize("code", CURRENT)
def test_current_codes_pass_by_default(code: str) -> None:
    assert RULES.check(event(service_type=code), BERGEN).findings == ()


@pytest.mark.parametrize("code", sorted(FIRST_PHASE_SERVICE_TYPES))
def test_the_first_phase_reports_its_codes(code: str) -> None:
    verdict = FIRST_PHASE.check(event(service_type=code), BERGEN)
    assert (verdict.state, verdict.findings) == (None, ())


@pytest.mark.parametrize("code", ["1", "15", "25"])
def test_a_valid_event_of_a_type_left_out_is_not_reportable(code: str) -> None:
    verdict = FIRST_PHASE.check(event(service_type=code), BERGEN)
    assert verdict.state is EventState.NOT_REPORTABLE
    assert verdict.municipality_number is None
    assert rules_of(verdict) == ["service-type-not-reported"]
    finding = verdict.findings[0]
    assert (finding.field, finding.severity) == ("service_type", Severity.NOT_REPORTABLE)
    assert f"service type {code} is not reported" in finding.reason_en
    assert "18, 19, 20, 21, 29" in finding.reason_en
    assert f"tjenestetype {code} rapporteres ikke" in finding.reason_nb


def test_warnings_stay_with_a_not_reportable_event() -> None:
    verdict = FIRST_PHASE.check(event(service_type="15", **IN_2019), BERGEN)
    assert verdict.state is EventState.NOT_REPORTABLE
    assert rules_of(verdict) == ["municipality-earlier-number", "service-type-not-reported"]


def test_a_rejection_wins_over_not_reportable() -> None:
    verdict = FIRST_PHASE.check(event(service_type="6"), BERGEN)
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict) == ["service-code-obsolete"]
    other = FIRST_PHASE.check(event(service_type="15", municipality_number="5001"), BERGEN)
    assert other.state is EventState.REJECTED_INVALID
    assert rules_of(other) == ["municipality-not-tenant"]


@pytest.mark.parametrize("codes", [frozenset(), frozenset({"21", "99"}), frozenset({"021"})])
def test_the_setting_must_name_codes_of_9151(codes: frozenset[str]) -> None:
    with pytest.raises(RulesConfigError, match="reported service types"):
        RuleSet(reported_service_types=codes)


def test_the_setting_is_kept() -> None:
    assert RULES.reported_service_types is None
    assert FIRST_PHASE.reported_service_types == FIRST_PHASE_SERVICE_TYPES


@pytest.mark.parametrize("org_number", [BERGEN_ORG, TRONDHEIM_ORG, "974760673"])
def test_a_provider_with_a_valid_organisation_number_passes(org_number: str) -> None:
    assert RULES.check(event(provider_org_number=org_number), BERGEN).findings == ()


@pytest.mark.parametrize("org_number", ["964338532", "123456789", "974760674"])
def test_a_provider_number_failing_mod_11_is_refused(org_number: str) -> None:
    changed = event(kind="provider_changed", provider_org_number=org_number)
    verdict = RULES.check(changed, BERGEN)
    assert verdict.state is EventState.REJECTED_INVALID
    assert rules_of(verdict) == ["provider-org-number-check-digit"]
    finding = verdict.findings[0]
    assert finding.field == "provider_org_number"
    assert org_number not in finding.reason_en
