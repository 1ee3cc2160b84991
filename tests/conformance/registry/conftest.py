"""The Address Registry's data contracts, compiled from the schemas inside NHN's WSDL."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lxml import etree

from tests.unit.registry.conftest import pki, pki_dir

__all__ = ["pki", "pki_dir"]

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "nhn-adresseregisteret-sok.wsdl"


@pytest.fixture(scope="session")
def wsdl_path(standards_dir: Path) -> Path:
    return standards_dir / "wsdl" / WSDL


@pytest.fixture(scope="session")
def contracts(wsdl_path: Path, tmp_path_factory: pytest.TempPathFactory) -> etree.XMLSchema:
    """Every ``xs:schema`` of the WSDL as its own file, their imports pointed at each other,
    and one wrapper importing them all (the WSDL's imports name namespaces, not files)."""
    directory = tmp_path_factory.mktemp("ar-contracts")
    schemas = etree.parse(str(wsdl_path)).getroot().iter(f"{{{XS}}}schema")
    copies = [copy.deepcopy(schema) for schema in schemas]
    files = {
        schema.get("targetNamespace", ""): directory / f"contract-{position}.xsd"
        for position, schema in enumerate(copies)
    }
    for schema in copies:
        for imported in schema.iterfind(f"{{{XS}}}import"):
            imported.set("schemaLocation", files[imported.get("namespace", "")].as_uri())
        files[schema.get("targetNamespace", "")].write_bytes(etree.tostring(schema))
    wrapper = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
    for namespace, path in files.items():
        etree.SubElement(
            wrapper, f"{{{XS}}}import", namespace=namespace, schemaLocation=path.as_uri()
        )
    return etree.XMLSchema(wrapper)
