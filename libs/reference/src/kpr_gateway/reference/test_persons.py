"""Test persons are never sent: synthetic ids by their form, and each tenant's listed ones."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from kpr_gateway.reference.errors import ReferenceDataError
from kpr_gateway.reference.national_ids import D_NUMMER, FODSELSNUMMER, H_NUMMER


def is_synthetic(national_id: str, id_type: int = FODSELSNUMMER) -> bool:
    """A synthetic test id of this type (kodeverk 9032): the month digits raised by 40 (NAV's
    Dolly) or 80 (Skatteetaten's Tenor). Such numbers never belong to a real person.

    An H-nummer has its month raised by 40 by definition, so for id type 3 only the +80 form
    is synthetic. Types 9 (a birth date) and 10 (DUF-nummer) have no synthetic form, nor
    has an id too short to have month digits.
    """
    month_digits = national_id[2:4]
    if len(month_digits) != 2 or not month_digits.isascii() or not month_digits.isdigit():
        return False
    month = int(month_digits)
    if id_type in (FODSELSNUMMER, D_NUMMER):
        return 41 <= month <= 52 or 81 <= month <= 92
    if id_type == H_NUMMER:
        return 81 <= month <= 92
    return False


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
    def from_file(cls, path: Path) -> Self:
        """One national id per line; blank lines and ``#`` comments are skipped."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReferenceDataError(f"{path}: test person list cannot be read") from exc
        ids = []
        for number, line in enumerate(text.splitlines(), start=1):
            value = line.strip()
            if not value or value.startswith("#"):
                continue
            if len(value) != 11 or not value.isascii() or not value.isdigit():
                raise ReferenceDataError(f"{path}: line {number} is not an 11-digit national id")
            ids.append(value)
        return cls(ids)
