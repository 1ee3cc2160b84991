"""Rules on the service: its code is current, welfare technology has no hours, and the
provider's organisation number passes its check digit.

KttEvent has already refused codes that are not in the KPR service list.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stdnum.no import orgnr

from kpr_gateway.messages.kpr_ktt_v1 import KttEvent, ServiceType
from kpr_gateway.transform.rules.catalogue import (
    PROVIDER_ORG_NUMBER,
    SERVICE_CODE_OBSOLETE,
    WELFARE_TECHNOLOGY_HOURS,
)
from kpr_gateway.transform.rules.findings import Finding

_HOUSING_NB = "bolig rapporteres som tjeneste 29"
# The code list gives the replacement in English; these are its Norwegian words.
_REPLACEMENT_NB: Mapping[str, str] = MappingProxyType(
    {
        "12": _HOUSING_NB,
        "13": _HOUSING_NB,
        "16": "rehabilitering rapporteres som opplysning om personen, ikke som tjeneste",
    }
)


def check_service_code(event: KttEvent, service: ServiceType) -> Finding | None:
    """An obsolete code is refused for an allocation still in force on or after the day the
    code ended (no end date, or an end on or after it); an allocation that ended before may
    still be reported under the code it had."""
    obsolete_since = service.obsolete_since
    if obsolete_since is None:
        return None
    if event.end_date is not None and event.end_date < obsolete_since:
        return None
    replacement_en = service.replacement or "no replacement"
    replacement_nb = _REPLACEMENT_NB.get(service.code, replacement_en)
    return SERVICE_CODE_OBSOLETE.finding(
        reason_nb=f"tjenestekode {service.code} ({service.name_nb}) er utgått fra "
        f"{obsolete_since.isoformat()}; {replacement_nb}",
        reason_en=f"service code {service.code} ({service.name_en}) is obsolete since "
        f"{obsolete_since.isoformat()}; {replacement_en}",
    )


def check_welfare_technology(event: KttEvent, service: ServiceType) -> Finding | None:
    """Welfare technology has its own codes and is not measured in hours: hours on such a
    code mean an hour-based service (home care, practical assistance) was mapped to it, or
    the EPJ sends hours for everything. Zero hours is read as no hours."""
    if not service.welfare_technology or not event.hours_per_week:
        return None
    return WELFARE_TECHNOLOGY_HOURS.finding(
        reason_nb=f"tjenestekode {service.code} ({service.name_nb}) er velferdsteknologi og "
        "måles ikke i timer: utelat timer per uke, eller bruk koden for den timebaserte tjenesten",
        reason_en=f"service code {service.code} ({service.name_en}) is welfare technology, "
        "not measured in hours: omit hours_per_week, or use the code of the hour-based service",
    )


def check_provider(event: KttEvent) -> Finding | None:
    if event.provider_org_number is None or orgnr.is_valid(event.provider_org_number):
        return None
    return PROVIDER_ORG_NUMBER.finding(
        reason_nb="tjenesteyterens organisasjonsnummer har feil kontrollsiffer (modulus 11)",
        reason_en="the provider's organisation number fails the mod-11 check digit",
    )
