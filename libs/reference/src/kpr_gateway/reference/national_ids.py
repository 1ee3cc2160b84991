"""The form, check digits and date of Norwegian person ids, by their type (kodeverk 9032).

Each check answers with the problem it found, or None; what a problem is called and how
severe it is belongs to the rules that use it (daily and annual).

- 1 fødselsnummer and 2 D-nummer (day + 40): both mod-11 check digits and a real birth date
  (python-stdnum's rules, with a fast path for the valid ones); an FH number (first digit 8
  or 9) is no person's fødselsnummer.
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
from datetime import date
from enum import StrEnum
from typing import Final

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.no import fodselsnummer

FODSELSNUMMER: Final = 1
D_NUMMER: Final = 2
H_NUMMER: Final = 3
ANNET: Final = 9
DUF_NUMMER: Final = 10
"""The codes of kodeverk 9032 these checks know (an ``IdType`` member compares equal)."""

# The mod-11 weights of the two check digits (zip-like map stops at the shorter sequence).
_K1_WEIGHTS: Final = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS: Final = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_LENGTHS: Final = {FODSELSNUMMER: 11, D_NUMMER: 11, H_NUMMER: 11, ANNET: 6, DUF_NUMMER: 12}


class IdProblem(StrEnum):
    """What is wrong with an id, as the rules tell the municipality."""

    FORM = "form"
    """Not the digits its type has (11 for 1, 2 and 3; 6 for 9; 12 for 10)."""
    FH_NUMBER = "fh-number"
    """Types 1 and 2: an FH number (common auxiliary number, first digit 8 or 9)."""
    CHECK_DIGITS = "check-digits"
    """Types 1, 2 and 3: a mod-11 check digit is wrong."""
    BIRTH_DATE = "birth-date"
    """Types 1 and 2: no real birth date (impossible date, no century, not yet born)."""
    H_MONTH = "h-month"
    """Type 3: the month is not raised by 40."""
    DDMMYY = "ddmmyy"
    """Type 9: ddmmyy is no real date in the 1900s or 2000s."""


def check_national_id(national_id: str, id_type: int) -> IdProblem | None:
    """The problem of ``national_id`` as an id of ``id_type``; None for a type not checked
    here (4-8, 12: foreign and auxiliary numbers, which the register judges)."""
    length = _LENGTHS.get(id_type)
    if length is None:
        return None
    if len(national_id) != length or not national_id.isascii() or not national_id.isdigit():
        return IdProblem.FORM
    if id_type in (FODSELSNUMMER, D_NUMMER):
        return check_fodselsnummer(national_id)
    if id_type == H_NUMMER:
        return check_h_number(national_id)
    if id_type == ANNET:
        return check_birth_date(national_id)
    return None  # DUF-nummer: see the module's docstring


def check_fodselsnummer(national_id: str) -> IdProblem | None:
    """Fødselsnummer and D-number (day + 40) of 11 digits: both check digits and a real
    birth date."""
    if national_id[0] in "89":
        return IdProblem.FH_NUMBER
    if plainly_valid(national_id):
        return None
    try:
        fodselsnummer.validate(national_id)
    except InvalidChecksum:
        return IdProblem.CHECK_DIGITS
    except ValidationError:
        return IdProblem.BIRTH_DATE
    return None


def check_h_number(national_id: str) -> IdProblem | None:
    """H-nummer of 11 digits: both check digits, and the month raised by 40."""
    if not check_digits_valid(national_id):
        return IdProblem.CHECK_DIGITS
    if not 41 <= int(national_id[2:4]) <= 52:
        return IdProblem.H_MONTH
    return None


def check_birth_date(national_id: str) -> IdProblem | None:
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
    return IdProblem.DDMMYY


def check_digits(first_nine: str) -> str | None:
    """The two mod-11 check digits that complete ``first_nine`` (nine digits) to a valid
    fødselsnummer, D- or H-nummer; None when a check digit would be 10 (no such number)."""
    d = [ord(c) - 48 for c in first_nine]
    k1 = (11 - sum(map(operator.mul, _K1_WEIGHTS, d))) % 11
    if k1 == 10:
        return None
    k2 = (11 - sum(map(operator.mul, _K2_WEIGHTS, [*d, k1]))) % 11
    return None if k2 == 10 else f"{k1}{k2}"


def check_digits_valid(national_id: str) -> bool:
    """Both mod-11 check digits of the 11 digits ``national_id``."""
    d = [ord(c) - 48 for c in national_id]
    k1: int = (11 - sum(map(operator.mul, _K1_WEIGHTS, d))) % 11
    k2: int = (11 - sum(map(operator.mul, _K2_WEIGHTS, d))) % 11
    return k1 == d[9] and k2 == d[10]


def plainly_valid(national_id: str) -> bool:
    """True when ``national_id`` passes python-stdnum's ``fodselsnummer.validate``, in a tenth
    of its time (stdnum cleans and re-reads the number for each step; this runs per person).

    The same arithmetic as stdnum for ids without an FH number (checked before): both mod-11
    check digits, the D-number day and H-number month, the century from the individual
    number, and a birth date not after today. Anything else goes to stdnum, which names the
    error. The unit tests hold it to stdnum over random ids.
    """
    if len(national_id) != 11 or not national_id.isascii() or not national_id.isdigit():
        return False
    if not check_digits_valid(national_id):
        return False
    d = [ord(c) - 48 for c in national_id]
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
