"""The annual formats against the standards folder: IPLOS 3.7 (iplos_2019.xsd) and XPR(ide)
53.1.3 ship the official XSDs byte for byte, and what the synthetic generator writes is
valid against the official files compiled from there, streaming and as a whole tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.annual.synthetic import write_extract
from kpr_gateway.messages import iplos_annual, xpr_ide
from kpr_gateway.messages.iplos_annual import AnnualFile
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
