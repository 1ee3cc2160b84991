"""The module's identity: its XSD ships inside the package and matches the constants."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from kpr_gateway.messages import kpr_ktt_v1
from kpr_gateway.messages.kpr_ktt_v1 import NAMESPACE, VERSION, XSD_PATH


def test_xsd_sits_in_the_package_directory() -> None:
    assert XSD_PATH.is_file()
    assert XSD_PATH.parent == Path(kpr_ktt_v1.__file__).parent


def test_xsd_matches_namespace_and_version() -> None:
    root = etree.parse(str(XSD_PATH)).getroot()
    assert root.get("targetNamespace") == NAMESPACE == "urn:no:kpr-gateway:kpr-ktt:v1"
    assert root.get("elementFormDefault") == "qualified"
    assert root.get("version") == VERSION
    xs = "{http://www.w3.org/2001/XMLSchema}"
    roots = {element.get("name") for element in root.iterfind(f"{xs}element")}
    assert roots == {"Fagmelding", "Identmelding"}
    fixed = {a.get("fixed") for a in root.iter(f"{xs}attribute") if a.get("name") == "version"}
    assert fixed == {VERSION}


def test_module_docstring_says_it_is_not_the_official_schema() -> None:
    doc = kpr_ktt_v1.__doc__ or ""
    assert "not FHI's official schema" in doc
    assert "plugs in here" in doc
