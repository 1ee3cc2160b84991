"""Rules on the person's id, by its type (kodeverk 9032): real ids pass their check digits
and carry a real date; types without a KPR-ID are sent with a warning.

The ``Person`` model has already checked the form: 11 digits for types 1, 2 and 3, six for
9, twelve for 10. The checks themselves (``kpr_gateway.reference.national_ids``, shared with
the annual rules) say what is wrong; this module names it as the daily rules do:

- 1 fødselsnummer and 2 D-nummer (day + 40): both mod-11 check digits and a real birth date;
  an FH number (first digit 8 or 9) is refused, it is no person's fødselsnummer.
- 3 H-nummer: both mod-11 check digits and the month raised by 40.
- 9 annet: the birth date as ddmmyy, a real date in the 1900s or 2000s.
- 10 DUF-nummer: twelve digits, no further check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from kpr_gateway.messages.iplos_kpr import IdType, Person
from kpr_gateway.reference import national_ids
from kpr_gateway.reference.national_ids import IdProblem
from kpr_gateway.transform.rules.catalogue import (
    NATIONAL_ID_BIRTH_DATE,
    NATIONAL_ID_CHECK_DIGITS,
    NO_KPR_ID,
)
from kpr_gateway.transform.rules.findings import Finding


def check_national_id(person: Person) -> Finding | None:
    """The id's check digits and date, by its type."""
    return _CHECKS[person.id_type](person.national_id)


def check_kpr_id(person: Person) -> Finding | None:
    """A warning for an id type that gives the person no KPR-ID (3 and 9): the register
    accepts the event and reports the missing id back to the municipality as a shortcoming."""
    if person.id_type.gives_kpr_id:
        return None
    code = int(person.id_type)
    return NO_KPR_ID.finding(
        reason_nb=f"id-type {code} ({person.id_type.name_nb}) gir ikke personen en KPR-ID: "
        "hendelsen sendes, men registeret melder det tilbake som en mangel; "
        "send en korreksjon (M) med fødselsnummer, D-nummer eller DUF-nummer når det finnes",
        reason_en=f"id type {code} ({person.id_type.name_nb}) gives the person no KPR-ID: the "
        "event is sent, but the register reports it back as a shortcoming; send a correction "
        "(M) with a fødselsnummer, D-nummer or DUF-nummer once there is one",
    )


def check_fodselsnummer(national_id: str) -> Finding | None:
    """Fødselsnummer and D-number (day + 40): both check digits and a real birth date."""
    problem = national_ids.check_fodselsnummer(national_id)
    if problem is IdProblem.FH_NUMBER:
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="et FH-nummer (felles hjelpenummer) kan ikke rapporteres som "
            "fødselsnummer eller D-nummer",
            reason_en="an FH number (common auxiliary number) cannot be reported as a "
            "fødselsnummer or D-number",
        )
    if problem is IdProblem.CHECK_DIGITS:
        return _wrong_check_digits("fødselsnummeret eller D-nummeret", "fødselsnummer or D-number")
    if problem is not None:
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="fødselsnummeret eller D-nummeret har ingen gyldig fødselsdato",
            reason_en="the fødselsnummer or D-number does not carry a real birth date",
        )
    return None


def check_h_number(national_id: str) -> Finding | None:
    """H-nummer: both check digits, and the month raised by 40."""
    problem = national_ids.check_h_number(national_id)
    if problem is IdProblem.CHECK_DIGITS:
        return _wrong_check_digits("H-nummeret", "H-nummer")
    if problem is not None:
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="et H-nummer har måneden økt med 40 (41-52); dette har det ikke",
            reason_en="an H-nummer has its month raised by 40 (41-52); this one has not",
        )
    return None


def check_birth_date(national_id: str) -> Finding | None:
    """Id type 9: the birth date as ddmmyy, a real date in the 1900s or the 2000s."""
    if national_ids.check_birth_date(national_id) is None:
        return None
    return NATIONAL_ID_BIRTH_DATE.finding(
        reason_nb="id-type 9 (annet) er fødselsdatoen som ddmmåå; dette er ingen gyldig dato",
        reason_en="id type 9 (annet) is the birth date as ddmmyy; this is no real date",
    )


def _no_check(national_id: str) -> Finding | None:
    return None


_CHECKS: Mapping[IdType, Callable[[str], Finding | None]] = MappingProxyType(
    {
        IdType.FODSELSNUMMER: check_fodselsnummer,
        IdType.D_NUMMER: check_fodselsnummer,
        IdType.H_NUMMER: check_h_number,
        IdType.ANNET: check_birth_date,
        IdType.DUF_NUMMER: _no_check,  # see kpr_gateway.reference.national_ids
    }
)


def _wrong_check_digits(the_id_nb: str, the_id_en: str) -> Finding:
    return NATIONAL_ID_CHECK_DIGITS.finding(
        reason_nb=f"{the_id_nb} har feil kontrollsiffer (modulus 11)",
        reason_en=f"the {the_id_en} has wrong check digits (mod 11)",
    )
