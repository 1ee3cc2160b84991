"""The rules of the annual check (issue 11, item 2): ids, severities and what each checks.

The ids are the public names of the rules: a report, the API and the CLI show them as they
are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Severity(StrEnum):
    ERROR = "error"
    """The submission is not sendable."""
    WARNING = "warning"
    """Shown; the submission may be sent."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    summary: str


RULES: Final[tuple[Rule, ...]] = (
    Rule("xsd", Severity.ERROR, "a file is not valid against its official schema"),
    Rule(
        "municipality-not-valid-in-year",
        Severity.ERROR,
        "iiKomnr was not in use on every day of the reporting year",
    ),
    Rule(
        "municipality-not-tenant",
        Severity.ERROR,
        "iiKomnr is neither the tenant's municipality nor one it took over",
    ),
    Rule(
        "period-not-whole-year",
        Severity.ERROR,
        "iiFraDato-iiTilDato is not 1 January-31 December of the reporting year",
    ),
    Rule(
        "test-person",
        Severity.ERROR,
        "a synthetic or listed test person in the identity file",
    ),
    Rule("ident-missing", Severity.ERROR, "a PERSON without a PasientIdent"),
    Rule("ident-orphan", Severity.ERROR, "a PasientIdent without a PERSON"),
    Rule(
        "national-id-check-digits",
        Severity.ERROR,
        "fid is not a valid id of its typeID (check digits, form, date)",
    ),
    Rule(
        "service-code-obsolete",
        Severity.ERROR,
        "tjTjenType 12, 13 or 16 in a year from 2019 (housing is 29)",
    ),
    Rule(
        "org-number-check-digit",
        Severity.ERROR,
        "tjInstOrgnr or dgInstOrgnr fails the mod-11 check digit",
    ),
    Rule(
        "duplicate-person",
        Severity.ERROR,
        "the same person twice: a pePeID, a pid, or a national id under two pids",
    ),
    Rule(
        "welfare-technology-absent",
        Severity.WARNING,
        "no welfare technology service at all (6, 26, 27, 28)",
    ),
    Rule(
        "persons-changed",
        Severity.WARNING,
        "the number of persons differs by more than 20 % from the previous accepted year",
    ),
)
RULES_BY_ID: Final[Mapping[str, Rule]] = MappingProxyType({rule.id: rule for rule in RULES})

WELFARE_TECHNOLOGY: Final = frozenset({6, 26, 27, 28})
"""Kodeverk 9151: safety alarm (6), localisation technology (26), electronic medication
support (27), digital supervision (28); in IPLOS 3.7 still service types."""
PERSONS_CHANGED_SHARE: Final = 0.2
"""``persons-changed``: more than this share up or down from the previous accepted year."""
