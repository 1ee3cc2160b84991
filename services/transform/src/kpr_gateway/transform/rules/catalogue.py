"""Every data-quality rule by id: severity, field and what it checks (DESIGN.md section 6).

Ids are stable: they are stored in the ledger, returned to the EPJ and used as a metric
label. ``event-format`` is not here: it is the id transform gives the ``Notification``
model's own validation errors (forms, kind-specific fields, codes of the code lists), which
run before these rules. Fields are named as the model's errors name them
(``person.national_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kpr_gateway.transform.rules.findings import RuleInfo, Severity

TEST_PERSON = RuleInfo(
    "test-person",
    Severity.SUPPRESS,
    "person.national_id",
    "synthetic national id (month digits raised by 40 or 80; for an H-number by 80): "
    "a test person, never sent",
    "syntetisk fødselsnummer (måneden økt med 40 eller 80; for H-nummer med 80): "
    "en testperson, sendes aldri",
)
TEST_PERSON_LISTED = RuleInfo(
    "test-person-listed",
    Severity.SUPPRESS,
    "person.national_id",
    "the person is on the tenant's list of test persons, never sent",
    "personen står på kommunens liste over testpersoner, sendes aldri",
)
NATIONAL_ID_CHECK_DIGITS = RuleInfo(
    "national-id-check-digits",
    Severity.REJECT,
    "person.national_id",
    "fødselsnummer, D-nummer or H-nummer with wrong mod-11 check digits",
    "fødselsnummer, D-nummer eller H-nummer med feil kontrollsiffer (modulus 11)",
)
NATIONAL_ID_BIRTH_DATE = RuleInfo(
    "national-id-birth-date",
    Severity.REJECT,
    "person.national_id",
    "no real birth date for the id type (fødselsnummer, D-nummer, birth date of type 9), "
    "an H-nummer without its month raised by 40, or an FH number",
    "ingen gyldig fødselsdato for id-typen (fødselsnummer, D-nummer, fødselsdato av type 9), "
    "et H-nummer uten måneden økt med 40, eller et FH-nummer",
)
NO_KPR_ID = RuleInfo(
    "no-kpr-id",
    Severity.WARN,
    "person.id_type",
    "id type without a KPR-ID (3 H-nummer, 9 birth date): sent, the register reports it "
    "back as a shortcoming",
    "id-type uten KPR-ID (3 H-nummer, 9 fødselsdato): sendes, registeret melder det "
    "tilbake som en mangel",
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
    "municipality number not in use on the event date",
    "kommunenummer som ikke gjaldt på hendelsesdatoen",
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
    "service_type",
    "service type not valid on the event date (12, 13, 16 ended with 2018) or withdrawn "
    "from kodeverk 9151 ('Utgått' in 56.0.0)",
    "tjenestetype som ikke gjaldt på hendelsesdatoen (12, 13, 16 utgikk med 2018) eller er "
    "utgått i kodeverk 9151 (56.0.0)",
)
SERVICE_TYPE_NOT_REPORTED = RuleInfo(
    "service-type-not-reported",
    Severity.NOT_REPORTABLE,
    "service_type",
    "a valid event of a service type this release does not report: kept, not sent",
    "en gyldig hendelse med en tjenestetype denne versjonen ikke rapporterer: lagres, sendes ikke",
)

RULES: tuple[RuleInfo, ...] = (
    TEST_PERSON,
    TEST_PERSON_LISTED,
    NATIONAL_ID_CHECK_DIGITS,
    NATIONAL_ID_BIRTH_DATE,
    NO_KPR_ID,
    MUNICIPALITY_NUMBER_UNKNOWN,
    MUNICIPALITY_NUMBER_NOT_VALID_ON_DATE,
    MUNICIPALITY_NOT_TENANT,
    MUNICIPALITY_EARLIER_NUMBER,
    PROVIDER_ORG_NUMBER,
    SERVICE_CODE_OBSOLETE,
    SERVICE_TYPE_NOT_REPORTED,
)
"""All rules, in the order they are applied."""

RULES_BY_ID: Mapping[str, RuleInfo] = MappingProxyType({rule.id: rule for rule in RULES})
