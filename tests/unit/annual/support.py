"""The hand-written clean pair (Bergen, 2025, three persons) and edits of it, for the
annual checks' tests: each bad case is the clean pair with one hand-written change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kpr_gateway.annual import SubmissionReport, check_submission
from kpr_gateway.tenancy import Tenant
from tests.unit.rules.support import tenant

DATA = Path(__file__).resolve().parent / "data"
CLEAN_IPLOS = DATA / "clean-iplos.xml"
CLEAN_IDENT = DATA / "clean-ident.xml"
NATIONAL_IDS = ("28015926254", "06123916172", "03118049364")
"""The fictional national ids of the clean identity file."""
BERGEN = tenant()


@dataclass(frozen=True)
class Pair:
    iplos: Path
    ident: Path


def edited(
    directory: Path,
    *,
    iplos: tuple[tuple[str, str], ...] = (),
    ident: tuple[tuple[str, str], ...] = (),
) -> Pair:
    """The clean pair written to ``directory`` with each (old, new) replaced once."""
    pair = Pair(directory / "iplos.xml", directory / "ident.xml")
    for source, target, edits in (
        (CLEAN_IPLOS, pair.iplos, iplos),
        (CLEAN_IDENT, pair.ident, ident),
    ):
        text = source.read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        target.write_text(text, encoding="utf-8")
    return pair


def check(
    pair: Pair, *, year: int = 2025, who: Tenant = BERGEN, previous_persons: int | None = None
) -> SubmissionReport:
    return check_submission(
        tenant=who, year=year, iplos=pair.iplos, ident=pair.ident, previous_persons=previous_persons
    )


def rules_of(report: SubmissionReport) -> dict[str, tuple[int, list[str]]]:
    return {f.rule: (f.count, f.examples) for f in report.findings}
