"""The format's identity: the official XSD ships in the package and agrees with the constants."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from kpr_gateway.messages import iplos_kpr
from kpr_gateway.messages.iplos_kpr import (
    GUID_EMPTY,
    MSG_TYPE,
    NAMESPACE,
    VERSION,
    XSD_DIR,
    XSD_FILES,
    XSD_PATH,
)

XS = "{http://www.w3.org/2001/XMLSchema}"


def test_the_schema_files_sit_in_the_package() -> None:
    assert Path(iplos_kpr.__file__).parent / "xsd" == XSD_DIR
    assert XSD_DIR / XSD_FILES[0] == XSD_PATH
    assert sorted(path.name for path in XSD_DIR.iterdir()) == sorted(XSD_FILES)


def test_the_schema_is_56_0_0_in_its_namespace() -> None:
    root = etree.parse(str(XSD_PATH)).getroot()
    assert root.get("targetNamespace") == NAMESPACE == "http://www.npr.no/xmlstds/56_0_0_ipl"
    assert root.get("elementFormDefault") == "qualified"
    melding = root.find(f"{XS}element[@name='Melding']")
    assert melding is not None
    fixed = {a.get("name"): a.get("fixed") for a in melding.iter(f"{XS}attribute")}
    assert fixed["versjon"] == VERSION == "56.0.0"
    assert fixed["meldingstype"] == "K"


def test_identity_constants() -> None:
    assert MSG_TYPE == "KPR_IPL"
    assert GUID_EMPTY.int == 0


def test_public_names_exist() -> None:
    assert all(hasattr(iplos_kpr, name) for name in iplos_kpr.__all__)
    assert "56.0.0" in (iplos_kpr.__doc__ or "")
