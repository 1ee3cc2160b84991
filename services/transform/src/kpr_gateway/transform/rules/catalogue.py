"""Every data-quality rule by id: severity, field and what it checks (DESIGN.md section 6).

Ids are stable: they are stored in the ledger, returned to the EPJ and used as a metric
label. ``event-format`` is not here: it is the id transform gives KttEvent's own validation
errors (format, unknown service code, date order), which run before these rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kpr_gateway.transform.rules.findings import RuleInfo, Severity

TEST_PERSON = RuleInfo(
    "test-person",
    Severity.SUPPRESS,
    "national_id",
    "synthetic national id (month digits raised by 40 or 80): a test person, never sent",
    "syntetisk fødselsnummer (måneden økt med 40 eller 80): en testperson, sendes aldri",
)
TEST_PERSON_LISTED = RuleInfo(
    "test-person-listed",
    Severity.SUPPRESS,
    "national_id",
    "the person is on the tenant's list of test persons, never sent",
    "personen står på kommunens liste over testpersoner, sendes aldri",
)
NATIONAL_ID_CHECK_DIGITS = RuleInfo(
    "national-id-check-digits",
    Severity.REJECT,
    "national_id",
    "fødselsnummer or D-number with wrong mod-11 check digits",
    "fødselsnummer eller D-nummer med feil kontrollsiffer (modulus 11)",
)
NATIONAL_ID_BIRTH_DATE = RuleInfo(
    "national-id-birth-date",
    Severity.REJECT,
    "national_id",
    "fødselsnummer or D-number without a real birth date (or an FH number)",
    "fødselsnummer eller D-nummer uten gyldig fødselsdato (eller et FH-nummer)",
)
MUNICIPALITY_NUMBER_UNKNOWN = RuleInfo(
    "municipality-number-unknown",
    Severity.REJECT,
    "municipality_number",
    "municipality number not in SSB's classification from 2017 on",
    "kommunenummer som ikke finnes i SSBs kommuneinndeling fra 2017",
)
MUNICIPALITY_NUMBER_NOT_VALID_ON_DATE = RuleInfo(
    "municipality-number-not-valid-on-date",
    Severity.REJECT,
    "municipality_number",
    "municipality number not in use on the decision date",
    "kommunenummer som ikke gjaldt på vedtaksdatoen",
)
MUNICIPALITY_NOT_TENANT = RuleInfo(
    "municipality-not-tenant",
    Severity.REJECT,
    "municipality_number",
    "municipality is neither the tenant's nor one it took over",
    "kommunen er verken klientens egen eller en den har overtatt",
)
MUNICIPALITY_EARLIER_NUMBER = RuleInfo(
    "municipality-earlier-number",
    Severity.WARN,
    "municipality_number",
    "dated before a renumbering: reported under the number valid then",
    "datert før et nytt kommunenummer: rapporteres med nummeret som gjaldt da",
)
PROVIDER_ORG_NUMBER = RuleInfo(
    "provider-org-number-check-digit",
    Severity.REJECT,
    "provider_org_number",
    "provider organisation number fails the mod-11 check",
    "tjenesteyterens organisasjonsnummer har feil kontrollsiffer (modulus 11)",
)
SERVICE_CODE_OBSOLETE = RuleInfo(
    "service-code-obsolete",
    Severity.REJECT,
    "service_code",
    "service code obsolete while the allocation is in force (12, 13, 16 since 2019)",
    "tjenestekode utgått mens tildelingen gjelder (12, 13, 16 fra 2019)",
)
WELFARE_TECHNOLOGY_HOURS = RuleInfo(
    "welfare-technology-hours",
    Severity.REJECT,
    "hours_per_week",
    "welfare technology service (alarm, location, medication support, supervision) with hours",
    "velferdsteknologi (alarm, lokalisering, medisineringsstøtte, tilsyn) med timer per uke",
)

RULES: tuple[RuleInfo, ...] = (
    TEST_PERSON,
    TEST_PERSON_LISTED,
    NATIONAL_ID_CHECK_DIGITS,
    NATIONAL_ID_BIRTH_DATE,
    MUNICIPALITY_NUMBER_UNKNOWN,
    MUNICIPALITY_NUMBER_NOT_VALID_ON_DATE,
    MUNICIPALITY_NOT_TENANT,
    MUNICIPALITY_EARLIER_NUMBER,
    PROVIDER_ORG_NUMBER,
    SERVICE_CODE_OBSOLETE,
    WELFARE_TECHNOLOGY_HOURS,
)
"""All rules, in the order they are applied."""

RULES_BY_ID: Mapping[str, RuleInfo] = MappingProxyType({rule.id: rule for rule in RULES})
