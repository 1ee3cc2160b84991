"""``check_submission``: every rule of the annual check over the IPLOS file and its identity
file, in one streaming pass over each.

Memory follows the number of persons, not the files: per person its pePeID (a short
string) and per identity a 16-byte keyed hash of the national id, under a key made for this
check and forgotten after it. National ids are not kept, shown or logged.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Final

from stdnum.no import orgnr

from kpr_gateway.annual.errors import AnnualInputError
from kpr_gateway.annual.report import RuleFinding, SubmissionReport
from kpr_gateway.annual.rules import PERSONS_CHANGED_SHARE, RULES, WELFARE_TECHNOLOGY, Severity
from kpr_gateway.messages.iplos_annual import (
    AnnualFile,
    AnnualFileError,
    AnnualHeader,
    AnnualPerson,
    StreamOutcome,
    canonical_id,
)
from kpr_gateway.messages.iplos_kpr import SERVICE_TYPES
from kpr_gateway.messages.xpr_ide import IdentFile, IdentFileError
from kpr_gateway.reference import (
    KnownTestPersons,
    MunicipalityTable,
    ReferenceDataError,
    check_digits_valid,
    check_national_id,
    is_synthetic,
    load_municipalities,
)
from kpr_gateway.tenancy import Tenant

MAX_EXAMPLES: Final = 5
WITHHELD: Final = "(withheld: shaped like a national id)"


def check_submission(
    *,
    tenant: Tenant,
    year: int,
    iplos: Path,
    ident: Path,
    previous_persons: int | None = None,
    test_persons: KnownTestPersons | None = None,
    municipalities: MunicipalityTable | None = None,
) -> SubmissionReport:
    """Run every rule over ``iplos`` (IPLOS 3.7) and ``ident`` (XPR(ide) 53.1.3) for
    ``tenant`` and the reporting ``year``.

    ``previous_persons``: the number of persons of the tenant's previous accepted year, when
    known (``persons-changed``). ``test_persons``: the tenant's listed test persons; by
    default read from its ``test_persons_file`` (none when it has none).
    ``AnnualInputError`` when a file or the test person list cannot be read.
    """
    listed = test_persons if test_persons is not None else _listed(tenant)
    check = _Check(tenant, year, municipalities or load_municipalities(), listed)
    try:
        annual = AnnualFile(iplos)
        for item in annual:
            if isinstance(item, AnnualPerson):
                check.person(item)
            else:
                check.header(item)
        check.iplos_complete = annual.outcome.complete
        identities = IdentFile(ident)
        for identity in identities:
            check.identity(identity.pid, identity.fid, identity.type_id)
    except (AnnualFileError, IdentFileError) as exc:
        raise AnnualInputError(str(exc)) from exc
    return check.report(
        {iplos.name: annual.outcome, ident.name: identities.outcome}, previous_persons
    )


def _listed(tenant: Tenant) -> KnownTestPersons | None:
    if tenant.test_persons_file is None:
        return None
    try:
        return KnownTestPersons.from_file(tenant.test_persons_file)
    except ReferenceDataError as exc:
        raise AnnualInputError(f"tenant {tenant.id}: test_persons_file: {exc}") from exc


@dataclass(slots=True)
class _Tally:
    count: int = 0
    examples: list[str] = field(default_factory=list)
    detail: str = ""

    def add(self, example: str | None = None) -> None:
        self.count += 1
        if example is not None and len(self.examples) < MAX_EXAMPLES:
            shown = WITHHELD if _looks_like_national_id(example) else example
            if shown not in self.examples:
                self.examples.append(shown)


class _Check:
    def __init__(
        self,
        tenant: Tenant,
        year: int,
        table: MunicipalityTable,
        listed: KnownTestPersons | None,
    ) -> None:
        self._tenant = tenant
        self._year = year
        self._table = table
        self._listed = listed
        self._tallies: dict[str, _Tally] = {rule.id: _Tally() for rule in RULES}
        self._persons: dict[str, bool] = {}
        """pePeID -> has a PasientIdent; in file order."""
        self._person_count = 0
        self.iplos_complete = False
        """Set once the IPLOS file has been read to its end."""
        self._pids: set[str] = set()
        self._national_ids: set[bytes] = set()
        self._key = secrets.token_bytes(32)
        self._welfare_technology = False
        self._obsolete = _obsolete_service_types(year)

    # ------------------------------------------------------------------ the IPLOS file

    def header(self, header: AnnualHeader) -> None:
        first, last = date(self._year, 1, 1), date(self._year, 12, 31)
        if header.period_from != first or header.period_to != last:
            self._note(
                "period-not-whole-year",
                f"the file covers {_day(header.period_from)} to {_day(header.period_to)}, "
                f"not {first.isoformat()} to {last.isoformat()}",
            )
        number = header.municipality_number
        if number is None:
            return  # the schema finding reports it
        if not self._table.in_use_throughout(number, first, last):
            periods = self._table.periods(number)
            when = (
                ", ".join(_range(p.valid_from, p.valid_to) for p in periods)
                if periods
                else "never (not in SSB's classification from 2017)"
            )
            self._note(
                "municipality-not-valid-in-year",
                f"iiKomnr {number} was not in use throughout {self._year}; it was in use {when}",
            )
        own = self._tenant.municipality_number
        if number not in self._table.lineage(own):
            self._note(
                "municipality-not-tenant",
                f"iiKomnr {number} is neither {own}, tenant {self._tenant.id}'s municipality, "
                "nor one it took over",
            )

    def person(self, person: AnnualPerson) -> None:
        person_id = person.person_id
        self._person_count += 1
        if person_id in self._persons:
            self._tallies["duplicate-person"].add(person_id)
        else:
            self._persons[person_id] = False
        for code in person.service_types:
            if code in WELFARE_TECHNOLOGY:
                self._welfare_technology = True
            elif code in self._obsolete:
                self._tallies["service-code-obsolete"].add(person_id)
        for org_number in person.org_numbers:
            if not _valid_org_number(org_number):
                self._tallies["org-number-check-digit"].add(person_id)

    # ------------------------------------------------------------------ the identity file

    def identity(self, pid_text: str, national_id: str, type_id: int | None) -> None:
        pid = canonical_id(pid_text)
        digest = hashlib.blake2b(national_id.encode(), key=self._key, digest_size=16).digest()
        if pid in self._pids or digest in self._national_ids:
            self._tallies["duplicate-person"].add(pid)
        self._pids.add(pid)
        self._national_ids.add(digest)
        if pid in self._persons:
            self._persons[pid] = True
        elif self.iplos_complete:
            # Against a file read only in part, any pid could be an unread person.
            self._tallies["ident-orphan"].add(pid)
        if type_id is None:
            return  # the schema finding reports it
        # A test person is only that: its id is synthetic on purpose (as in the daily rules).
        if is_synthetic(national_id, type_id) or (
            self._listed is not None and national_id in self._listed
        ):
            self._tallies["test-person"].add(pid)
        elif check_national_id(national_id, type_id) is not None:
            self._tallies["national-id-check-digits"].add(pid)

    # ------------------------------------------------------------------ the report

    def report(
        self, outcomes: dict[str, StreamOutcome], previous_persons: int | None
    ) -> SubmissionReport:
        for label, outcome in outcomes.items():
            tally = self._tallies["xsd"]
            tally.count += outcome.error_count
            for problem in outcome.problems:
                if len(tally.examples) < MAX_EXAMPLES:
                    tally.examples.append(problem.describe(label))
        complete = all(outcome.complete for outcome in outcomes.values())
        persons = self._person_count
        if complete:
            # Rules that need both files whole: a file read only in part would find
            # persons missing that are merely unread.
            self._whole_file_rules(persons, previous_persons)
        findings = [
            RuleFinding(
                rule=rule.id,
                severity=rule.severity,
                count=tally.count,
                examples=tally.examples,
                detail=tally.detail,
            )
            for rule in RULES
            if (tally := self._tallies[rule.id]).count
        ]
        sendable = not any(f.severity is Severity.ERROR for f in findings)
        return SubmissionReport(sendable=sendable, persons=persons, findings=findings)

    def _whole_file_rules(self, persons: int, previous_persons: int | None) -> None:
        for person_id, has_ident in self._persons.items():
            if not has_ident:
                self._tallies["ident-missing"].add(person_id)
        if persons and not self._welfare_technology:
            self._note(
                "welfare-technology-absent",
                "no TJENESTE of type 6, 26, 27 or 28 (safety alarm, localisation technology, "
                "electronic medication support, digital supervision) in the whole file",
            )
        if previous_persons is not None and _changed(persons, previous_persons):
            self._note(
                "persons-changed",
                f"{persons} persons, against {previous_persons} in the previous accepted year",
            )

    def _note(self, rule: str, detail: str) -> None:
        tally = self._tallies[rule]
        tally.add()
        tally.detail = detail


def _obsolete_service_types(year: int) -> frozenset[int]:
    """Codes of kodeverk 9151 whose last day is before the reporting year: 12, 13 and 16
    from 2019 (the IPLOS 3.7 list still has the welfare technology codes the daily one
    marks "Utgått", so ``withdrawn`` is not used here)."""
    first = date(year, 1, 1)
    return frozenset(
        int(code)
        for code, service in SERVICE_TYPES.items()
        if service.valid_until is not None and service.valid_until < first
    )


@lru_cache(maxsize=4096)
def _valid_org_number(org_number: str) -> bool:
    """stdnum's mod-11 check; cached, as a year names the same few institutions often."""
    return bool(orgnr.is_valid(org_number))


def _changed(persons: int, previous: int) -> bool:
    if previous <= 0:
        return persons > 0
    return abs(persons - previous) > PERSONS_CHANGED_SHARE * previous


def _looks_like_national_id(text: str) -> bool:
    """A value that is (or, with its leading zero dropped, was) 11 digits with valid mod-11
    check digits is withheld from examples: a pid that is really a national id must not end
    up in a report."""
    if not (text.isascii() and text.isdigit()):
        return False
    if len(text) == 10:
        text = "0" + text
    return len(text) == 11 and check_digits_valid(text)


def _day(value: date | None) -> str:
    return "(missing)" if value is None else value.isoformat()


def _range(first: date, end: date | None) -> str:
    if end is None:
        return f"from {first.isoformat()}"
    return f"from {first.isoformat()} until {end.isoformat()} (exclusive)"
