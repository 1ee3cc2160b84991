"""The service: code current, welfare technology without hours, provider number mod-11."""

from __future__ import annotations

import pytest

from kpr_gateway.messages.kpr_ktt_v1 import SERVICE_TYPES
from kpr_gateway.transform.rules import RuleSet, Verdict
from tests.unit.rules.support import BERGEN_ORG, TRONDHEIM_ORG, event, tenant

RULES = RuleSet()
BERGEN = tenant()


def rules_of(verdict: Verdict) -> list[str]:
    return [f.rule for f in verdict.findings]


@pytest.mark.parametrize(
    ("code", "replacement_en", "replacement_nb"),
    [
        ("12", "report housing as service 29", "bolig rapporteres som tjeneste 29"),
        ("13", "report housing as service 29", "bolig rapporteres som tjeneste 29"),
        ("16", "reported as information on the person", "opplysning om personen"),
    ],
)
def test_obsolete_codes_are_refused_with_their_replacement(
    code: str, replacement_en: str, replacement_nb: str
) -> None:
    verdict = RULES.check(event(service_code=code), BERGEN)
    assert verdict.state is not None
    assert rules_of(verdict) == ["service-code-obsolete"]
    finding = verdict.findings[0]
    assert finding.field == "service_code"
    assert f"service code {code} (" in finding.reason_en
    assert "obsolete since 2019-01-01" in finding.reason_en
    assert replacement_en in finding.reason_en
    assert f"tjenestekode {code} (" in finding.reason_nb
    assert "utgått fra 2019-01-01" in finding.reason_nb
    assert replacement_nb in finding.reason_nb


def test_an_obsolete_code_is_refused_for_an_allocation_running_into_2019() -> None:
    running = {"municipality_number": "1201", "decision_date": "2018-03-01"}
    still = event(service_code="12", start_date="2018-03-01", **running)
    ended_later = event(
        service_code="12", start_date="2018-03-01", end_date="2019-01-01", **running
    )
    assert rules_of(RULES.check(still, BERGEN)) == [
        "municipality-earlier-number",
        "service-code-obsolete",
    ]
    assert "service-code-obsolete" in rules_of(RULES.check(ended_later, BERGEN))


def test_an_obsolete_code_may_report_an_allocation_that_ended_before_2019() -> None:
    ended = event(
        service_code="12",
        municipality_number="1201",
        decision_date="2017-03-01",
        start_date="2017-03-01",
        end_date="2018-12-31",
    )
    verdict = RULES.check(ended, BERGEN)
    assert verdict.state is None
    assert rules_of(verdict) == ["municipality-earlier-number"]


@pytest.mark.parametrize("code", ["29", "15", "1", "21"])
def test_current_codes_pass(code: str) -> None:
    assert RULES.check(event(service_code=code), BERGEN).findings == ()


WELFARE = sorted(code for code, service in SERVICE_TYPES.items() if service.welfare_technology)


def test_the_welfare_technology_codes_are_the_four_services() -> None:
    assert WELFARE == ["26", "27", "28", "6"]


@pytest.mark.parametrize("code", WELFARE)
def test_welfare_technology_with_hours_is_refused(code: str) -> None:
    verdict = RULES.check(event(service_code=code, hours_per_week="3.5"), BERGEN)
    assert rules_of(verdict) == ["welfare-technology-hours"]
    finding = verdict.findings[0]
    assert (finding.field, finding.severity.value) == ("hours_per_week", "reject")
    assert "welfare technology" in finding.reason_en
    assert "velferdsteknologi" in finding.reason_nb


@pytest.mark.parametrize("code", WELFARE)
def test_welfare_technology_without_hours_passes(code: str) -> None:
    assert RULES.check(event(service_code=code), BERGEN).findings == ()
    assert RULES.check(event(service_code=code, hours_per_week="0"), BERGEN).findings == ()


def test_hour_based_services_keep_their_hours() -> None:
    assert RULES.check(event(service_code="15", hours_per_week="7.5"), BERGEN).findings == ()


@pytest.mark.parametrize("org_number", [BERGEN_ORG, TRONDHEIM_ORG, "974760673"])
def test_a_provider_with_a_valid_organisation_number_passes(org_number: str) -> None:
    assert RULES.check(event(provider_org_number=org_number), BERGEN).findings == ()


@pytest.mark.parametrize("org_number", ["964338532", "123456789", "974760674"])
def test_a_provider_number_failing_mod_11_is_refused(org_number: str) -> None:
    verdict = RULES.check(event(provider_org_number=org_number), BERGEN)
    assert rules_of(verdict) == ["provider-org-number-check-digit"]
    finding = verdict.findings[0]
    assert finding.field == "provider_org_number"
    assert org_number not in finding.reason_en
