"""The synthetic extract: deterministic by seed, consistent, and clean under the checks."""

from __future__ import annotations

from pathlib import Path

from kpr_gateway.annual.synthetic import write_extract
from tests.unit.annual.support import Pair, check, rules_of


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    first = write_extract(
        tmp_path / "a-i.xml", tmp_path / "a-d.xml", municipality_number="4601", year=2025,
        persons=50, seed=3,
    )  # fmt: skip
    second = write_extract(
        tmp_path / "b-i.xml", tmp_path / "b-d.xml", municipality_number="4601", year=2025,
        persons=50, seed=3,
    )  # fmt: skip
    other = write_extract(
        tmp_path / "c-i.xml", tmp_path / "c-d.xml", municipality_number="4601", year=2025,
        persons=50, seed=4,
    )  # fmt: skip
    assert first.iplos.read_bytes() == second.iplos.read_bytes()
    assert first.ident.read_bytes() == second.ident.read_bytes()
    assert first.ident.read_bytes() != other.ident.read_bytes()


def test_a_generated_pair_passes_every_rule(tmp_path: Path) -> None:
    files = write_extract(
        tmp_path / "i.xml", tmp_path / "d.xml", municipality_number="4601", year=2025,
        persons=500, seed=9,
    )  # fmt: skip
    report = check(Pair(files.iplos, files.ident))
    assert report.sendable
    assert report.persons == 500
    assert rules_of(report) == {}


def test_the_size_is_that_of_a_real_year(tmp_path: Path) -> None:
    files = write_extract(
        tmp_path / "i.xml", tmp_path / "d.xml", municipality_number="4601", year=2025,
        persons=2_000,
    )  # fmt: skip
    per_person = files.iplos.stat().st_size / 2_000
    assert 1_200 < per_person < 1_700  # 50,000 persons: 60-85 MB, like the 72 MB
