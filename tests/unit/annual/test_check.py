"""Every rule of the annual check on a hand-written case, and the clean pair that passes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from kpr_gateway.annual import RULES, AnnualInputError, check_submission
from tests.unit.annual.support import (
    BERGEN,
    CLEAN_IDENT,
    CLEAN_IPLOS,
    NATIONAL_IDS,
    Pair,
    check,
    edited,
    rules_of,
)
from tests.unit.rules.support import national_id, tenant

SERVICE_21 = "<tjTjenType>21</tjTjenType>"
PERSON_3_IDENT = '    <PasientIdent pid="100003" fid="03118049364" typeID="1"/>\n'


def test_the_clean_pair_is_sendable_with_no_findings() -> None:
    report = check(Pair(CLEAN_IPLOS, CLEAN_IDENT))
    assert report.sendable
    assert report.persons == 3
    assert report.findings == []
    assert json.loads(report.model_dump_json()) == {"sendable": True, "persons": 3, "findings": []}


def test_the_json_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    report = check(edited(tmp_path, iplos=((SERVICE_21, "<tjTjenType>12</tjTjenType>"),)))
    document = json.loads(report.model_dump_json())
    assert document == {
        "sendable": False,
        "persons": 3,
        "findings": [
            {
                "rule": "service-code-obsolete",
                "severity": "error",
                "count": 1,
                "examples": ["100001"],
            }
        ],
    }


def test_a_schema_error_names_file_line_and_element_never_the_value(tmp_path: Path) -> None:
    pair = edited(tmp_path, iplos=(("<peAlder>86</peAlder>", "<peAlder>28015926254</peAlder>"),))
    report = check(pair)
    assert rules_of(report) == {
        "xsd": (1, ["iplos.xml:51 peAlder (SCHEMAV_CVC_DATATYPE_VALID_1_2_1)"])
    }
    assert not report.sendable
    assert "28015926254" not in report.model_dump_json()


def test_a_schema_error_in_the_ident_file_is_found_too(tmp_path: Path) -> None:
    pair = edited(tmp_path, ident=(('typeID="1"/>', 'typeID="99"/>'),))
    assert rules_of(check(pair)) == {
        "xsd": (1, ["ident.xml:7 PasientIdent/@typeID (SCHEMAV_CVC_ENUMERATION_VALID)"])
    }


def test_a_truncated_file_is_not_well_formed_and_whole_file_rules_wait(tmp_path: Path) -> None:
    pair = edited(tmp_path, iplos=(("</IPLOS>\n", ""),))
    report = check(pair)
    count, examples = rules_of(report)["xsd"]
    assert count >= 1
    assert examples[0].startswith("iplos.xml:")
    assert " (document) (ERR_" in examples[0]
    # every person was read, but the file was not whole: no ident-missing or
    # welfare-technology-absent guessed from it
    assert set(rules_of(report)) == {"xsd"}


def test_a_doctype_is_refused(tmp_path: Path) -> None:
    pair = edited(
        tmp_path,
        iplos=(("<IPLOS xmlns", '<!DOCTYPE IPLOS [<!ENTITY a "b">]>\n<IPLOS xmlns'),),
    )
    assert rules_of(check(pair)) == {"xsd": (1, ["iplos.xml:1 (document) (DOCTYPE_NOT_ACCEPTED)"])}


@pytest.mark.parametrize(
    ("number", "year"),
    [("1201", 2025), ("4601", 2019), ("3024", 2024), ("9999", 2025)],
)
def test_a_municipality_number_not_in_use_all_year_is_refused(number: str, year: int) -> None:
    # 1201 Bergen until 2019; 4601 from 2020; 3024 Bærum replaced on 2024-01-01; 9999 never
    pair_dir = Path(__file__).resolve().parent  # written below in a fresh folder per case
    del pair_dir
    found = _check_number(number, year)
    assert "municipality-not-valid-in-year" in found


def _check_number(number: str, year: int) -> dict[str, tuple[int, list[str]]]:
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        pair = edited(
            Path(folder),
            iplos=(
                ("<iiKomnr>4601</iiKomnr>", f"<iiKomnr>{number}</iiKomnr>"),
                ("20250101", f"{year}0101"),
                ("20251231", f"{year}1231"),
            ),
        )
        return rules_of(check(pair, year=year))


def test_the_tenants_earlier_number_is_right_for_an_earlier_year() -> None:
    # Bergen was 1201 in 2019: its own lineage, in use all year
    assert _check_number("1201", 2019) == {}


def test_another_municipality_is_not_the_tenants() -> None:
    found = _check_number("5001", 2025)
    assert found == {"municipality-not-tenant": (1, [])}


def test_trondheim_may_send_klaebu_5030_for_2019() -> None:
    trondheim = tenant(id="trondheim", municipality_number="5001", org_number="942110464")
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        pair = edited(
            Path(folder),
            iplos=(
                ("<iiKomnr>4601</iiKomnr>", "<iiKomnr>5030</iiKomnr>"),
                ("20250101", "20190101"),
                ("20251231", "20191231"),
            ),
        )
        assert rules_of(check(pair, year=2019, who=trondheim)) == {}


@pytest.mark.parametrize(
    ("start", "end"),
    [("20250101", "20250630"), ("20250201", "20251231"), ("20240101", "20241231")],
)
def test_a_period_that_is_not_the_whole_year_is_refused(
    tmp_path: Path, start: str, end: str
) -> None:
    pair = edited(
        tmp_path,
        iplos=(
            ("<iiFraDato>20250101</iiFraDato>", f"<iiFraDato>{start}</iiFraDato>"),
            ("<iiTilDato>20251231</iiTilDato>", f"<iiTilDato>{end}</iiTilDato>"),
        ),
    )
    report = check(pair)
    assert rules_of(report) == {"period-not-whole-year": (1, [])}
    assert "not 2025-01-01 to 2025-12-31" in report.findings[0].detail


@pytest.mark.parametrize("month_offset", [40, 80])
def test_a_synthetic_test_person_is_refused(tmp_path: Path, month_offset: int) -> None:
    synthetic = national_id(_born(), month_offset=month_offset)
    pair = edited(tmp_path, ident=(('fid="06123916172"', f'fid="{synthetic}"'),))
    report = check(pair)
    assert rules_of(report) == {"test-person": (1, ["100002"])}
    assert synthetic not in report.model_dump_json()


def test_a_listed_test_person_is_refused(tmp_path: Path) -> None:
    listed = tmp_path / "test-persons.txt"
    listed.write_text(f"# Donald Duck\n{NATIONAL_IDS[2]}\n")
    who = tenant(test_persons_file=str(listed))
    report = check(Pair(CLEAN_IPLOS, CLEAN_IDENT), who=who)
    assert rules_of(report) == {"test-person": (1, ["100003"])}


def test_an_unreadable_test_person_list_stops_the_check(tmp_path: Path) -> None:
    who = tenant(test_persons_file=str(tmp_path / "absent.txt"))
    with pytest.raises(AnnualInputError, match="test_persons_file"):
        check(Pair(CLEAN_IPLOS, CLEAN_IDENT), who=who)


def test_a_person_without_ident_is_refused(tmp_path: Path) -> None:
    pair = edited(tmp_path, ident=((PERSON_3_IDENT, ""),))
    assert rules_of(check(pair)) == {"ident-missing": (1, ["100003"])}


def test_an_ident_without_person_is_refused(tmp_path: Path) -> None:
    orphan = PERSON_3_IDENT + '    <PasientIdent pid="100004" fid="17034812345" typeID="9"/>\n'
    pair = edited(tmp_path, ident=((PERSON_3_IDENT, orphan),))
    # the fid of type 9 is not six digits: the id check names it as well
    assert rules_of(check(pair)) == {
        "ident-orphan": (1, ["100004"]),
        "national-id-check-digits": (1, ["100004"]),
    }


def test_pid_and_pe_pe_id_match_as_numbers(tmp_path: Path) -> None:
    pair = edited(tmp_path, ident=(('pid="100003"', 'pid="0100003"'),))
    assert rules_of(check(pair)) == {}


@pytest.mark.parametrize("wrong", ["06123916173", "0612391617", "8612391617X"])
def test_a_national_id_failing_its_checks_is_refused(tmp_path: Path, wrong: str) -> None:
    pair = edited(tmp_path, ident=(('fid="06123916172"', f'fid="{wrong}"'),))
    report = check(pair)
    assert rules_of(report) == {"national-id-check-digits": (1, ["100002"])}
    assert wrong not in report.model_dump_json()


@pytest.mark.parametrize("code", ["12", "13", "16"])
def test_housing_and_rehabilitation_codes_are_obsolete_from_2019(tmp_path: Path, code: str) -> None:
    pair = edited(tmp_path, iplos=((SERVICE_21, f"<tjTjenType>{code}</tjTjenType>"),))
    assert rules_of(check(pair)) == {"service-code-obsolete": (1, ["100001"])}


def test_housing_code_12_was_still_valid_in_2018(tmp_path: Path) -> None:
    pair = edited(
        tmp_path,
        iplos=(
            (SERVICE_21, "<tjTjenType>12</tjTjenType>"),
            ("<iiKomnr>4601</iiKomnr>", "<iiKomnr>1201</iiKomnr>"),
            ("<iiFraDato>20250101", "<iiFraDato>20180101"),
            ("<iiTilDato>20251231", "<iiTilDato>20181231"),
        ),
    )
    assert rules_of(check(pair, year=2018)) == {}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<tjInstOrgnr>998546826</tjInstOrgnr>", "<tjInstOrgnr>998546827</tjInstOrgnr>"),
        ("<dgInstOrgnr>978123112</dgInstOrgnr>", "<dgInstOrgnr>97812311</dgInstOrgnr>"),
    ],
)
def test_an_org_number_failing_its_check_digit_is_refused(
    tmp_path: Path, old: str, new: str
) -> None:
    pair = edited(tmp_path, iplos=((old, new),))
    assert rules_of(check(pair)) == {"org-number-check-digit": (1, ["100001"])}


def test_an_empty_org_number_is_treated_as_absent(tmp_path: Path) -> None:
    pair = edited(tmp_path, iplos=(("<tjInstOrgnr>993914223</tjInstOrgnr>", "<tjInstOrgnr/>"),))
    assert rules_of(check(pair)) == {}


def test_the_same_pe_pe_id_twice_is_a_duplicate(tmp_path: Path) -> None:
    pair = edited(tmp_path, iplos=(('<PERSON pePeID="100003">', '<PERSON pePeID="100002">'),))
    report = check(pair)
    # person 100003 is gone from the IPLOS file, so its ident is an orphan too
    assert rules_of(report) == {
        "ident-orphan": (1, ["100003"]),
        "duplicate-person": (1, ["100002"]),
    }
    assert report.persons == 3


def test_one_national_id_under_two_pids_is_a_duplicate(tmp_path: Path) -> None:
    pair = edited(tmp_path, ident=(('fid="03118049364"', f'fid="{NATIONAL_IDS[0]}"'),))
    report = check(pair)
    assert rules_of(report) == {"duplicate-person": (1, ["100003"])}
    assert NATIONAL_IDS[0] not in report.model_dump_json()


def test_a_year_without_welfare_technology_is_a_warning(tmp_path: Path) -> None:
    pair = edited(tmp_path, iplos=(("<tjTjenType>6</tjTjenType>", "<tjTjenType>1</tjTjenType>"),))
    report = check(pair)
    assert rules_of(report) == {"welfare-technology-absent": (1, [])}
    assert report.sendable
    assert report.findings[0].severity.value == "warning"


@pytest.mark.parametrize(("previous", "changed"), [(3, False), (2, True), (4, True), (10, True)])
def test_a_change_of_more_than_20_percent_is_a_warning(previous: int, changed: bool) -> None:
    report = check(Pair(CLEAN_IPLOS, CLEAN_IDENT), previous_persons=previous)
    assert report.sendable
    assert ("persons-changed" in rules_of(report)) is changed


def test_every_rule_has_a_test_above() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for rule in RULES:
        assert f'"{rule.id}"' in source, rule.id


def test_examples_shaped_like_a_national_id_are_withheld(tmp_path: Path) -> None:
    pair = edited(tmp_path, ident=(('pid="100003"', f'pid="{NATIONAL_IDS[2]}"'),))
    report = check(pair)
    found = rules_of(report)
    assert found["ident-orphan"] == (1, ["(withheld: shaped like a national id)"])
    assert NATIONAL_IDS[2] not in report.model_dump_json()


def test_a_missing_file_stops_the_check(tmp_path: Path) -> None:
    with pytest.raises(AnnualInputError, match=r"absent\.xml: cannot be read"):
        check_submission(tenant=BERGEN, year=2025, iplos=tmp_path / "absent.xml", ident=CLEAN_IDENT)


def _born() -> date:
    return date(1960, 2, 3)
