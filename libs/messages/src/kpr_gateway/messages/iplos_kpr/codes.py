"""Code lists of IPLOS i KPR, XPR(ipl) 56.0.0, as the official ``XPR(ipl)_CodingSchemes.xsd``
publishes them: 7316 notification status, 9032 person identification type, 9151 IPLOS
service type, 8471 contact person type; and the five event kinds of the specification.

The schema types these attributes as plain strings, so the register, not the XSD, judges the
codes: what is written here decides what the gateway lets through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Final


class NotificationStatus(StrEnum):
    """Kodeverk 7316 Status notifikasjon."""

    ORIGINAL = "N"
    REPLACE = "M"
    """KorrigerErstatt: replaces the original it names (``notifikasjonRef``)."""
    SUPPLEMENT = "T"
    """KorrigerSuppler: the specification says it is not to be used yet; refused."""
    CANCEL = "C"
    """KorrigerAnnuller: cancels the original it names."""

    @property
    def is_correction(self) -> bool:
        return self is not NotificationStatus.ORIGINAL


class EventKind(StrEnum):
    """The five event types (hendelsestyper) of the specification, by their JSON names."""

    SERVICE_START = "service_start"
    SERVICE_END = "service_end"
    PROVIDER_CHANGED = "provider_changed"
    TEMPORARY_STOP_FROM = "temporary_stop_from"
    TEMPORARY_STOP_TO = "temporary_stop_to"

    @property
    def element(self) -> str:
        """The element of the event in a ``Notifikasjon``."""
        return _ELEMENTS[self]

    @property
    def has_stop_id(self) -> bool:
        """``midlertidigStoppID`` is required for the two temporary stop kinds, absent else."""
        return self in (EventKind.TEMPORARY_STOP_FROM, EventKind.TEMPORARY_STOP_TO)

    @property
    def requires_provider(self) -> bool:
        """``tjenesteOrgNr`` is required only when the provider changed (optional else)."""
        return self is EventKind.PROVIDER_CHANGED


_ELEMENTS: Final[Mapping[EventKind, str]] = MappingProxyType(
    {
        EventKind.SERVICE_START: "TjenesteStart",
        EventKind.SERVICE_END: "TjenesteSlutt",
        EventKind.PROVIDER_CHANGED: "TjenesteutforerEndret",
        EventKind.TEMPORARY_STOP_FROM: "MidlertidigStoppFra",
        EventKind.TEMPORARY_STOP_TO: "MidlertidigStoppTil",
    }
)
KIND_OF_ELEMENT: Final[Mapping[str, EventKind]] = MappingProxyType(
    {element: kind for kind, element in _ELEMENTS.items()}
)


class IdType(IntEnum):
    """Kodeverk 9032 Type personidentifikasjon: the codes the gateway accepts.

    The specification: only the first three codes and 9 are valid (DUF, 10, is now received
    too); 1, 2 and 10 give the person a KPR-ID, the others are accepted by the register and
    reported back as a shortcoming. Passports and foreign numbers (4-8) and FH-numbers (12)
    are refused.
    """

    FODSELSNUMMER = 1
    D_NUMMER = 2
    H_NUMMER = 3
    ANNET = 9
    """"Annet": the birth date as ddmmyy, for a person without a valid national id."""
    DUF_NUMMER = 10

    @property
    def gives_kpr_id(self) -> bool:
        return self in (IdType.FODSELSNUMMER, IdType.D_NUMMER, IdType.DUF_NUMMER)

    @property
    def name_nb(self) -> str:
        return _ID_TYPE_NAMES[self]


_ID_TYPE_NAMES: Final[Mapping[IdType, str]] = MappingProxyType(
    {
        IdType.FODSELSNUMMER: "Norsk fødselsnummer",
        IdType.D_NUMMER: "D-nummer",
        IdType.H_NUMMER: "H-nummer",
        IdType.ANNET: "Annet (fødselsdato ddmmåå)",
        IdType.DUF_NUMMER: "DUF-nummer",
    }
)


class ContactType(IntEnum):
    """Kodeverk 8471 Kontaktperson type, the two an IPLOS message needs (at least one each)."""

    IPLOS_CONTACT = 16
    IPLOS_SUBMITTER = 17


@dataclass(frozen=True, slots=True)
class ServiceType:
    """One code of kodeverk 9151 IPLOS tjenestetype.

    ``valid_until``: the last day the code may be used (12, 13 and 16 ended with 2018, housing
    is 29 since). ``withdrawn``: the official list of 56.0.0 marks the code "Utgått" without a
    date; its comment says why.
    """

    code: str
    name_nb: str
    valid_until: date | None = None
    withdrawn: str | None = None

    def is_valid_on(self, day: date) -> bool:
        if self.withdrawn is not None:
            return False
        return self.valid_until is None or day <= self.valid_until


_END_OF_2018: Final = date(2018, 12, 31)
_WELFARE_TECHNOLOGY = "Utgått. Erstattet av kodeverk 9346"

_ROWS: Final[tuple[ServiceType, ...]] = (
    ServiceType("1", "Praktisk bistand - daglige gjøremål"),
    ServiceType("2", "Praktisk bistand - opplæring - daglige gjøremål"),
    ServiceType("3", "Praktisk bistand - brukerstyrt - personlig assistanse"),
    ServiceType("4", "Dagaktivitetstilbud"),
    ServiceType("5", "Matombringing"),
    ServiceType("6", "Trygghetsalarm", withdrawn=_WELFARE_TECHNOLOGY),
    ServiceType("7", "Avlastning utenfor institusjon"),
    ServiceType("8", "Avlastning i institusjon"),
    ServiceType("9", "Støttekontakt"),
    ServiceType("11", "Omsorgsstønad"),
    # 12, 13 and 16 are not in the 56.0.0 list: they ended with 2018 (DESIGN section 3), but
    # a backfilled event from before 2019 still carries them.
    ServiceType("12", "Omsorgsbolig", valid_until=_END_OF_2018),
    ServiceType("13", "Annen bolig kommunen disponerer", valid_until=_END_OF_2018),
    ServiceType(
        "14",
        "Planlagte tiltak",
        withdrawn="Utgått. Vedtak om bruk av tvang og makt (helse- og omsorgstjenesteloven "
        "kap. 9, § 9-5, tredje ledd bokstav b og c).",
    ),
    ServiceType("15", "Helsetjenester i hjemmet"),
    ServiceType(
        "16", "Habilitering og rehabilitering utenfor institusjon", valid_until=_END_OF_2018
    ),
    ServiceType("17", "Dagopphold i institusjon"),
    ServiceType("18", "Tidsbegrenset opphold - utredning/behandling"),
    ServiceType("19", "Tidsbegrenset opphold - habilitering/rehabilitering"),
    ServiceType("20", "Tidsbegrenset opphold - annet"),
    ServiceType("21", "Langtidsopphold i institusjon"),
    ServiceType("22", "Nattopphold i institusjon"),
    ServiceType(
        "23",
        "Skadeavvergende tiltak i nødssituasjoner",
        withdrawn="Utgått. Vedtak/avgjørelse fattet etter helse- og omsorgstjenesteloven "
        "kap. 9, § 9-5, tredje ledd bokstav a.",
    ),
    ServiceType(
        "24", "Helsehjelp med tvang", withdrawn="Utgått. Pasientrettighetsloven (kapittel 4 A)"
    ),
    ServiceType("25", "Kommunal øyeblikkelig hjelp - døgnopphold"),
    ServiceType("26", "Lokaliseringsteknologi (GPS)", withdrawn=_WELFARE_TECHNOLOGY),
    ServiceType("27", "Elektronisk medisineringsstøtte", withdrawn=_WELFARE_TECHNOLOGY),
    ServiceType("28", "Digitalt tilsyn", withdrawn=_WELFARE_TECHNOLOGY),
    ServiceType("29", "Bolig som kommunen disponerer for helse- og omsorgsformål"),
)

SERVICE_TYPES: Final[Mapping[str, ServiceType]] = MappingProxyType({r.code: r for r in _ROWS})
"""Kodeverk 9151 by code (decimal strings without leading zeros)."""

FIRST_PHASE_SERVICE_TYPES: Final = frozenset({"18", "19", "20", "21", "29"})
"""The service types the specification asks for "i første omgang" (in the first phase)."""


def service_type(code: str) -> ServiceType | None:
    """The service type with this code, or None if kodeverk 9151 does not have it."""
    return SERVICE_TYPES.get(code)
