"""Rules on the person: test persons are never sent; real ids pass their check digits.

KttEvent has already checked the form (exactly 11 digits).
"""

from __future__ import annotations

import hashlib
import operator
import secrets
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.no import fodselsnummer

from kpr_gateway.transform.rules.catalogue import (
    NATIONAL_ID_BIRTH_DATE,
    NATIONAL_ID_CHECK_DIGITS,
    TEST_PERSON,
    TEST_PERSON_LISTED,
)
from kpr_gateway.transform.rules.errors import RulesConfigError
from kpr_gateway.transform.rules.findings import Finding

# The mod-11 weights of the two check digits (zip-like map stops at the shorter sequence).
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def is_synthetic(national_id: str) -> bool:
    """A synthetic test id: the month digits raised by 40 (NAV's Dolly) or 80 (Skatteetaten's
    Tenor). Such numbers never belong to a real person.

    A month raised by 40 is also the form of a hospital's H-number (hjelpenummer), which
    identifies no one KPR knows either: never sent, like a test person.
    """
    month = int(national_id[2:4])
    return 41 <= month <= 52 or 81 <= month <= 92


class KnownTestPersons:
    """A tenant's configured test persons, held as keyed hashes: no plain id stays in memory.

    The key is random per process, so the hashes are useless outside it.
    """

    def __init__(self, national_ids: Iterable[str]) -> None:
        self._key = secrets.token_bytes(32)
        self._digests = frozenset(self._digest(n) for n in national_ids)

    def __contains__(self, national_id: object) -> bool:
        return isinstance(national_id, str) and self._digest(national_id) in self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def _digest(self, national_id: str) -> bytes:
        return hashlib.blake2b(national_id.encode(), key=self._key, digest_size=16).digest()

    @classmethod
    def from_file(cls, path: Path) -> KnownTestPersons:
        """One national id per line; blank lines and ``#`` comments are skipped."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesConfigError(f"{path}: test person list cannot be read") from exc
        ids = []
        for number, line in enumerate(text.splitlines(), start=1):
            value = line.strip()
            if not value or value.startswith("#"):
                continue
            if len(value) != 11 or not value.isascii() or not value.isdigit():
                raise RulesConfigError(f"{path}: line {number} is not an 11-digit national id")
            ids.append(value)
        return cls(ids)


def check_test_person(national_id: str, listed: KnownTestPersons | None) -> Finding | None:
    if is_synthetic(national_id):
        return TEST_PERSON.finding(
            reason_nb="syntetisk fødselsnummer (måneden er økt med 40 eller 80): "
            "en testperson sendes aldri til KPR",
            reason_en="synthetic national id (month raised by 40 or 80): "
            "a test person is never sent to KPR",
        )
    if listed is not None and national_id in listed:
        return TEST_PERSON_LISTED.finding(
            reason_nb="personen står på kommunens liste over testpersoner og sendes aldri til KPR",
            reason_en="the person is on the municipality's list of test persons "
            "and is never sent to KPR",
        )
    return None


def check_national_id(national_id: str) -> Finding | None:
    """Fødselsnummer and D-number (day + 40): both check digits and a real birth date."""
    if national_id[0] in "89":
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="et FH-nummer (felles hjelpenummer) kan ikke rapporteres; "
            "KPR trenger fødselsnummer eller D-nummer",
            reason_en="an FH number (common auxiliary number) cannot be reported; "
            "KPR needs a fødselsnummer or D-number",
        )
    if _plainly_valid(national_id):
        return None
    try:
        fodselsnummer.validate(national_id)
    except InvalidChecksum:
        return NATIONAL_ID_CHECK_DIGITS.finding(
            reason_nb="fødselsnummeret eller D-nummeret har feil kontrollsiffer",
            reason_en="the fødselsnummer or D-number has wrong check digits",
        )
    except ValidationError:
        return NATIONAL_ID_BIRTH_DATE.finding(
            reason_nb="fødselsnummeret eller D-nummeret har ingen gyldig fødselsdato",
            reason_en="the fødselsnummer or D-number does not carry a real birth date",
        )
    return None


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
    k1 = (11 - sum(map(operator.mul, _K1_WEIGHTS, d))) % 11
    k2 = (11 - sum(map(operator.mul, _K2_WEIGHTS, d))) % 11
    if k1 != d[9] or k2 != d[10]:
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
