"""Test persons are never sent: synthetic ids by their form, and each tenant's listed ones.

What a synthetic id is and how a list is held come from ``kpr_gateway.reference``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from kpr_gateway import reference
from kpr_gateway.messages.iplos_kpr import Person
from kpr_gateway.reference import ReferenceDataError, is_synthetic
from kpr_gateway.transform.rules.catalogue import TEST_PERSON, TEST_PERSON_LISTED
from kpr_gateway.transform.rules.errors import RulesConfigError
from kpr_gateway.transform.rules.findings import Finding


class KnownTestPersons(reference.KnownTestPersons):
    """A tenant's configured test persons (``kpr_gateway.reference.KnownTestPersons``) whose
    list, read at start-up, fails as transform's ``RulesConfigError``."""

    @classmethod
    def from_file(cls, path: Path) -> Self:
        try:
            return super().from_file(path)
        except ReferenceDataError as exc:
            raise RulesConfigError(str(exc)) from exc


def check_test_person(person: Person, listed: reference.KnownTestPersons | None) -> Finding | None:
    if is_synthetic(person.national_id, person.id_type):
        return TEST_PERSON.finding(
            reason_nb="syntetisk fødselsnummer (måneden er økt med 40 eller 80): "
            "en testperson sendes aldri til KPR",
            reason_en="synthetic national id (month raised by 40 or 80): "
            "a test person is never sent to KPR",
        )
    if listed is not None and person.national_id in listed:
        return TEST_PERSON_LISTED.finding(
            reason_nb="personen står på kommunens liste over testpersoner og sendes aldri til KPR",
            reason_en="the person is on the municipality's list of test persons "
            "and is never sent to KPR",
        )
    return None
