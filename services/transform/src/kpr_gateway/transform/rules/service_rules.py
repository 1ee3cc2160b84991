"""Rules on the service: its type is valid on the event's date and reported by this release,
and the provider's organisation number passes its check digit.

The ``Notification`` model has already refused codes that are not in kodeverk 9151.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

from stdnum.no import orgnr

from kpr_gateway.messages.iplos_kpr import Notification, ServiceType
from kpr_gateway.transform.rules.catalogue import (
    PROVIDER_ORG_NUMBER,
    SERVICE_CODE_OBSOLETE,
    SERVICE_TYPE_NOT_REPORTED,
)
from kpr_gateway.transform.rules.findings import Finding

_HOUSING = ("bolig rapporteres som tjenestetype 29", "report housing as service type 29")
# What replaced the codes that ended with 2018 (the code list itself no longer has them).
_REPLACEMENT: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "12": _HOUSING,
        "13": _HOUSING,
        "16": (
            "rehabilitering rapporteres som opplysning om personen, ikke som tjeneste",
            "rehabilitation is reported as information on the person, not as a service",
        ),
    }
)


def check_service_type(event: Notification, service: ServiceType) -> Finding | None:
    """The type must be valid on the event's date: 12, 13 and 16 until 2018-12-31 (a
    backfilled 2018 event may carry them), a withdrawn code ("Utgått") never."""
    if service.is_valid_on(event.event_date):
        return None
    name = f"{service.code} ({service.name_nb})"
    if service.withdrawn is not None:
        return SERVICE_CODE_OBSOLETE.finding(
            reason_nb=f"tjenestetype {name} er utgått i kodeverk 9151: {service.withdrawn}",
            reason_en=f"service type {name} is withdrawn from kodeverk 9151; the code list "
            f"says: {service.withdrawn}",
        )
    # Not withdrawn, so it ended: the day after its last day is when.
    until = service.valid_until
    ended = "" if until is None else (until + timedelta(days=1)).isoformat()
    replacement_nb, replacement_en = _REPLACEMENT.get(service.code, ("", ""))
    day = event.event_date.isoformat()
    return SERVICE_CODE_OBSOLETE.finding(
        reason_nb=f"tjenestetype {name} er utgått fra {ended}, før hendelsesdatoen {day}"
        + (f"; {replacement_nb}" if replacement_nb else ""),
        reason_en=f"service type {name} is obsolete since {ended}, before the event date {day}"
        + (f"; {replacement_en}" if replacement_en else ""),
    )


def check_reported(event: Notification, reported: frozenset[str] | None) -> Finding | None:
    """Which service types are reported is a release setting (None: every valid type)."""
    if reported is None or event.service_type in reported:
        return None
    listed = ", ".join(sorted(reported, key=int))
    return SERVICE_TYPE_NOT_REPORTED.finding(
        reason_nb=f"tjenestetype {event.service_type} rapporteres ikke av denne versjonen av "
        f"gatewayen (den rapporterer {listed}): hendelsen er lagret, men sendes ikke",
        reason_en=f"service type {event.service_type} is not reported by this release of the "
        f"gateway (it reports {listed}): the event is kept, not sent",
    )


def check_provider(event: Notification) -> Finding | None:
    if event.provider_org_number is None or orgnr.is_valid(event.provider_org_number):
        return None
    return PROVIDER_ORG_NUMBER.finding(
        reason_nb="tjenesteyterens organisasjonsnummer har feil kontrollsiffer (modulus 11)",
        reason_en="the provider's organisation number fails the mod-11 check digit",
    )
