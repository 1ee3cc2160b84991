"""The annual formats against the standards folder: IPLOS 3.7 (iplos_2019.xsd) and XPR(ide)
53.1.3 ship the official XSDs byte for byte, and what the synthetic generator writes is
valid against the official files compiled from there, streaming and as a whole tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.annual.synthetic import write_extract
from kpr_gateway.messages import iplos_annual, xpr_ide
from kpr_gateway.messages.iplos_annual import AnnualFile
from kpr_gateway.messages.iplos_annual.reader import canonical_id
from kpr_gateway.messages.xpr_ide import IdentFile


@pytest.fixture(scope="module")
def iplos_dir(standards_dir: Path) -> Path:
    return standards_dir / "kpr" / "iplos-3.7"


@pytest.fixture(scope="module")
def ide_dir(standards_dir: Path) -> Path:
    return standards_dir / "kpr" / "xpr-53.1.3"


def official(path: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def test_iplos_annual_ships_the_official_files_byte_for_byte(iplos_dir: Path) -> None:
    for name in iplos_annual.XSD_FILES:
        assert (iplos_annual.XSD_DIR / name).read_bytes() == (iplos_dir / name).read_bytes()
    assert {p.name for p in iplos_annual.XSD_DIR.iterdir()} == set(iplos_annual.XSD_FILES)


def test_xpr_ide_ships_the_official_files_byte_for_byte(ide_dir: Path) -> None:
    for name in xpr_ide.XSD_FILES:
        assert (xpr_ide.XSD_DIR / name).read_bytes() == (ide_dir / name).read_bytes()
    assert {p.name for p in xpr_ide.XSD_DIR.iterdir()} == set(xpr_ide.XSD_FILES)


def test_the_constants_agree_with_the_official_schemas(iplos_dir: Path, ide_dir: Path) -> None:
    iplos_root = etree.parse(str(iplos_dir / "iplos_2019.xsd")).getroot()
    assert iplos_root.get("targetNamespace") == iplos_annual.NAMESPACE
    assert iplos_root.get("version") == iplos_annual.VERSION
    ide_root = etree.parse(str(ide_dir / "XPR(ide).xsd")).getroot()
    assert ide_root.get("targetNamespace") == xpr_ide.NAMESPACE
    assert f'fixed = "{xpr_ide.VERSION}"' in (ide_dir / "XPR(ide).xsd").read_text("latin-1")
    assert (iplos_annual.MSG_TYPE, xpr_ide.MSG_TYPE) == ("KPR_IPL", "KPR_IDE")


def test_a_generated_pair_is_valid_streaming_and_as_a_tree(
    tmp_path: Path, iplos_dir: Path, ide_dir: Path
) -> None:
    files = write_extract(
        tmp_path / "i.xml", tmp_path / "d.xml", municipality_number="4601", year=2025, persons=200
    )
    official(iplos_dir / "iplos_2019.xsd").assertValid(etree.parse(str(files.iplos)))
    official(ide_dir / "XPR(ide).xsd").assertValid(etree.parse(str(files.ident)))
    annual, ident = AnnualFile(files.iplos), IdentFile(files.ident)
    assert sum(1 for _ in annual) == 201  # the header and 200 persons
    assert sum(1 for _ in ident) == 200
    assert annual.outcome.valid
    assert ident.outcome.valid


@pytest.mark.parametrize(
    "name",
    ["bergen-2025-iplos.xml", "trondheim-2025-iplos.xml"],
)
def test_the_example_files_are_valid(name: str, iplos_dir: Path, ide_dir: Path) -> None:
    examples = Path(__file__).resolve().parents[3] / "examples" / "annual"
    official(iplos_dir / "iplos_2019.xsd").assertValid(etree.parse(str(examples / name)))
    ident = examples / name.replace("iplos", "ident")
    official(ide_dir / "XPR(ide).xsd").assertValid(etree.parse(str(ident)))


def test_streaming_and_tree_validation_agree_on_a_broken_file(
    tmp_path: Path, iplos_dir: Path
) -> None:
    files = write_extract(
        tmp_path / "i.xml", tmp_path / "d.xml", municipality_number="4601", year=2025, persons=20
    )
    text = files.iplos.read_text(encoding="utf-8").replace("<peKjonn>", "<peKjonnX>", 1)
    text = text.replace("</peKjonn>", "</peKjonnX>", 1)
    files.iplos.write_text(text, encoding="utf-8")
    schema = official(iplos_dir / "iplos_2019.xsd")
    tree = etree.parse(str(files.iplos))
    assert not schema.validate(tree)
    first: etree._LogEntry = schema.error_log[0]  # type: ignore[index]
    annual = AnnualFile(files.iplos)
    list(annual)
    assert annual.outcome.error_count >= 1
    assert annual.outcome.problems[0].line == first.line
    assert annual.outcome.problems[0].element == "peKjonnX"


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "annual"

_JUNK_READER = """
import resource, sys
from pathlib import Path
from kpr_gateway.messages.iplos_annual import AnnualFile
from kpr_gateway.messages.iplos_annual.reader import canonical_id
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
annual = AnnualFile(Path(sys.argv[1]))
records = sum(1 for _ in annual)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
print(records, annual.outcome.error_count, annual.outcome.complete, grown)
"""


def test_elements_the_schema_does_not_know_do_not_pile_up(tmp_path: Path) -> None:
    """Three million unknown elements after the header (an EPJ export gone wrong): memory stays
    flat (they are freed as they end, not kept until a record that never comes), and the
    file is invalid."""
    example = (EXAMPLES / "bergen-2025-iplos.xml").read_text(encoding="utf-8")
    header_end = example.index("</INNHINFO>") + len("</INNHINFO>")
    junk = tmp_path / "junk-iplos.xml"
    with junk.open("w", encoding="utf-8") as out:
        out.write(example[:header_end])
        for _ in range(3000):
            out.write("<x/>" * 1000)
        out.write("</IPLOS>\n")
    finished = subprocess.run(
        [sys.executable, "-c", _JUNK_READER, str(junk)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    records, errors, _complete, grown_mib = finished.stdout.split()
    assert (int(records), int(errors) > 0) == (1, True)  # the header, then schema errors
    assert int(grown_mib) < 60, f"peak RSS grew by {grown_mib} MiB"  # 310 when they piled up


def test_an_id_of_thousands_of_digits_is_kept_as_text_not_a_crash() -> None:
    # int() refuses more than 4,300 digits: such an id is simply not one of the other file's
    huge = "0" + "1" * 5000
    assert canonical_id(huge) == huge
    assert canonical_id(" 0042 ") == "42"
