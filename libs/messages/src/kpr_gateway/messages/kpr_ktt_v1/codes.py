"""Code lists of the KPR KTT document: service types and event status.

The service type table is modelled on the public KPR service list ("Tjenester som
rapporteres til KPR helse og omsorg", the former IPLOS service list), as published
by Helsedirektoratet in its reports on municipal health and care services and used
by SSB's statistics. The authoritative list is FHI's KPR code list, shared with EPJ
vendors together with the daily message model. Codes and names here must be checked
against FHI's current list when the official schema plugs in.

Whether a code may be used for a given event (obsolete codes, welfare technology) is a
data-quality rule applied elsewhere; this table only records the facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType


class EventStatus(StrEnum):
    """What an event does to the allocation it names (its event id)."""

    NEW = "N"
    CORRECT_REPLACE = "M"
    CORRECT_SUPPLEMENT = "T"
    CANCEL = "C"

    @property
    def meaning(self) -> str:
        return _STATUS_MEANINGS[self]


_STATUS_MEANINGS: Mapping[EventStatus, str] = MappingProxyType(
    {
        EventStatus.NEW: "new allocation",
        EventStatus.CORRECT_REPLACE: "correction that replaces the allocation reported earlier",
        EventStatus.CORRECT_SUPPLEMENT: (
            "correction that supplements the allocation reported earlier"
        ),
        EventStatus.CANCEL: "cancellation of the allocation reported earlier",
    }
)


@dataclass(frozen=True, slots=True)
class ServiceType:
    """One row of the KPR service list."""

    code: str
    name_nb: str
    name_en: str
    obsolete_since: date | None = None
    replacement: str | None = None
    welfare_technology: bool = False

    def is_obsolete_on(self, day: date) -> bool:
        return self.obsolete_since is not None and day >= self.obsolete_since


_OBSOLETE_2019 = date(2019, 1, 1)
_HOUSING_REPLACEMENT = "report housing as service 29"

_ROWS: tuple[ServiceType, ...] = (
    ServiceType("1", "Praktisk bistand - daglige gjøremål", "Practical assistance - daily tasks"),
    ServiceType(
        "2",
        "Praktisk bistand - opplæring - daglige gjøremål",
        "Practical assistance - training in daily tasks",
    ),
    ServiceType(
        "3",
        "Praktisk bistand - brukerstyrt personlig assistanse (BPA)",
        "Practical assistance - user-controlled personal assistance (BPA)",
    ),
    ServiceType("4", "Dagaktivitetstilbud", "Day activity centre"),
    ServiceType("5", "Matombringing", "Meal delivery"),
    ServiceType("6", "Trygghetsalarm", "Safety alarm", welfare_technology=True),
    ServiceType("7", "Avlastning - utenfor institusjon", "Respite care - outside an institution"),
    ServiceType("8", "Avlastning i institusjon", "Respite care in an institution"),
    ServiceType("9", "Støttekontakt", "Support contact"),
    ServiceType("11", "Omsorgsstønad", "Care allowance"),
    ServiceType(
        "12",
        "Omsorgsbolig",
        "Sheltered housing",
        obsolete_since=_OBSOLETE_2019,
        replacement=_HOUSING_REPLACEMENT,
    ),
    ServiceType(
        "13",
        "Annen bolig kommunen disponerer til helse- og omsorgsformål",
        "Other municipal housing for health and care purposes",
        obsolete_since=_OBSOLETE_2019,
        replacement=_HOUSING_REPLACEMENT,
    ),
    ServiceType(
        "14",
        "Bruk av tvang, psykisk utviklingshemming - nødsituasjoner (hol. § 9-5 tredje ledd a)",
        "Use of coercion, intellectual disability - emergencies (§ 9-5 (3) a)",
    ),
    ServiceType("15", "Helsetjenester i hjemmet", "Home health care (home nursing)"),
    ServiceType(
        "16",
        "Habilitering og rehabilitering utenfor institusjon",
        "Habilitation and rehabilitation outside an institution",
        obsolete_since=_OBSOLETE_2019,
        replacement="rehabilitation is reported as information on the person, not as a service",
    ),
    ServiceType("17", "Dagopphold i institusjon", "Day stay in an institution"),
    ServiceType(
        "18",
        "Tidsbegrenset opphold i institusjon - utredning/behandling",
        "Short-term stay in an institution - assessment/treatment",
    ),
    ServiceType(
        "19",
        "Tidsbegrenset opphold i institusjon - habilitering/rehabilitering",
        "Short-term stay in an institution - habilitation/rehabilitation",
    ),
    ServiceType(
        "20",
        "Tidsbegrenset opphold i institusjon - annet",
        "Short-term stay in an institution - other",
    ),
    ServiceType("21", "Langtidsopphold i institusjon", "Long-term stay in an institution"),
    ServiceType("22", "Nattopphold i institusjon", "Night stay in an institution"),
    ServiceType(
        "23",
        "Bruk av tvang, psykisk utviklingshemming - planlagte skadeavvergende tiltak "
        "(hol. § 9-5 tredje ledd b)",
        "Use of coercion, intellectual disability - planned harm-prevention measures (§ 9-5 (3) b)",
    ),
    ServiceType(
        "24",
        "Bruk av tvang, psykisk utviklingshemming - tiltak for å dekke grunnleggende behov "
        "(hol. § 9-5 tredje ledd c)",
        "Use of coercion, intellectual disability - measures to meet basic needs (§ 9-5 (3) c)",
    ),
    ServiceType(
        "25",
        "Kommunalt døgnopphold for øyeblikkelig hjelp",
        "Municipal acute 24-hour inpatient care",
    ),
    ServiceType(
        "26",
        "Varslings- og lokaliseringsteknologi",
        "Alert and location technology",
        welfare_technology=True,
    ),
    ServiceType(
        "27",
        "Elektronisk medisineringsstøtte",
        "Electronic medication support",
        welfare_technology=True,
    ),
    ServiceType("28", "Digitalt tilsyn", "Digital supervision", welfare_technology=True),
    ServiceType(
        "29",
        "Bolig kommunen disponerer til helse- og omsorgsformål",
        "Municipal housing for health and care purposes",
    ),
)

SERVICE_TYPES: Mapping[str, ServiceType] = MappingProxyType({row.code: row for row in _ROWS})
"""The KPR service list by code (codes are decimal strings without leading zeros)."""


def service_type(code: str) -> ServiceType | None:
    """The service type with this code, or None if the code is not in the list."""
    return SERVICE_TYPES.get(code)
