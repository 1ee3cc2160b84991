"""Rules on the person's id, by its type (kodeverk 9032): real ids pass their check digits
and carry a real date; types without a KPR-ID are sent with a warning.

The ``Person`` model has already checked the form: 11 digits for types 1, 2 and 3, six for
9, twelve for 10.

- 1 fødselsnummer and 2 D-nummer (day + 40): both mod-11 check digits and a real birth date
  (python-stdnum's rules, with a fast path for the valid ones); an FH number (first digit 8
  or 9) is refused, it is no person's fødselsnummer.
- 3 H-nummer: both mod-11 check digits and the month raised by 40 (its defining form). Its
  date part is not held to a real birth date: a hospital assigns one when the birth date
  may be unknown.
- 9 annet: the birth date as ddmmyy, a real date in the 1900s or 2000s (so one in the past).
- 10 DUF-nummer: twelve digits, no further check. UDI publishes no check-digit algorithm,
  and HL7 Norway's naming system for it (OID 2.16.578.1.12.4.1.4.5) defines only the twelve
  digits; a rule we cannot cite could refuse real persons.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.no import fodselsnummer

from kpr_gateway.messages.iplos_kpr import IdType, Person
from kpr_gateway.transform.rules.catalogue import (
    NATIONAL_ID_BIRTH_DATE,
    NATIONAL_ID_CHECK_DIGITS,
    NO_KPR_ID,
)
from kpr_gateway.transform.rules.findings import Finding

# The mod-11 weights of the two check digits (zip-like map stops at the shorter sequence).
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


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
    if national_id[0] in "89":
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="et FH-nummer (felles hjelpenummer) kan ikke rapporteres som "
            "fødselsnummer eller D-nummer",
            reason_en="an FH number (common auxiliary number) cannot be reported as a "
            "fødselsnummer or D-number",
        )
    if _plainly_valid(national_id):
        return None
    try:
        fodselsnummer.validate(national_id)
    except InvalidChecksum:
        return _wrong_check_digits("fødselsnummeret eller D-nummeret", "fødselsnummer or D-number")
    except ValidationError:
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="fødselsnummeret eller D-nummeret har ingen gyldig fødselsdato",
            reason_en="the fødselsnummer or D-number does not carry a real birth date",
        )
    return None


def check_h_number(national_id: str) -> Finding | None:
    """H-nummer: both check digits, and the month raised by 40."""
    if not _check_digits_valid([ord(c) - 48 for c in national_id]):
        return _wrong_check_digits("H-nummeret", "H-nummer")
    if not 41 <= int(national_id[2:4]) <= 52:
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="et H-nummer har måneden økt med 40 (41-52); dette har det ikke",
            reason_en="an H-nummer has its month raised by 40 (41-52); this one has not",
        )
    return None


def check_birth_date(national_id: str) -> Finding | None:
    """Id type 9: the birth date as ddmmyy, a real date in the 1900s or the 2000s.

    Read in the century that puts it in the past, it is never in the future: the 1900s
    reading exists whenever the 2000s one does, except 29 February 2000, which is past.
    """
    day, month, year = int(national_id[0:2]), int(national_id[2:4]), int(national_id[4:6])
    for century in (1900, 2000):
        try:
            date(century + year, month, day)
        except ValueError:
            continue
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
        IdType.DUF_NUMMER: _no_check,  # see the module's docstring
    }
)


def _wrong_check_digits(the_id_nb: str, the_id_en: str) -> Finding:
    return NATIONAL_ID_CHECK_DIGITS.finding(
        reason_nb=f"{the_id_nb} har feil kontrollsiffer (modulus 11)",
        reason_en=f"the {the_id_en} has wrong check digits (mod 11)",
    )


def _check_digits_valid(d: list[int]) -> bool:
    """Both mod-11 check digits of the 11 digits ``d``."""
    k1: int = (11 - sum(map(operator.mul, _K1_WEIGHTS, d))) % 11
    k2: int = (11 - sum(map(operator.mul, _K2_WEIGHTS, d))) % 11
    return k1 == d[9] and k2 == d[10]


def _plainly_valid(national_id: str) -> bool:
    """True when ``national_id`` passes python-stdnum's ``fodselsnummer.validate``, in a tenth
    of its time (stdnum cleans and re-reads the number for each step; this runs per event).

    The same arithmetic as stdnum for ids without an FH number (checked before): both mod-11
    check digits, the D-number day and H-number month, the century from the individual
    number, and a birth date not after today. Anything else goes to stdnum, which names the
    error. The unit tests hold it to stdnum over random ids.
    """
    if len(national_id) != 11 or not national_id.isascii() or not national_id.isdigit():
        return False
    d = [ord(c) - 48 for c in national_id]
    if not _check_digits_valid(d):
        return False
    day = 10 * d[0] + d[1]
    month = 10 * d[2] + d[3]
    year = 10 * d[4] + d[5]
    individual = 100 * d[6] + 10 * d[7] + d[8]
    if day >= 80:
        return False
    if day > 40:
        day -= 40
    if month > 40:
        month -= 40
    if individual < 500:
        year += 1900
    elif individual < 750 and year >= 54:
        year += 1800
    elif year < 40:
        year += 2000
    elif individual >= 900:
        year += 1900
    else:
        return False
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return born <= date.today()
