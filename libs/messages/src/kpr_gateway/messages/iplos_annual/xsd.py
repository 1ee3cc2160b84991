"""The format's identity (namespace, version, schema).

The schema is the official IPLOS 3.7 ``iplos_2019.xsd`` from Helsedirektoratet, shipped in
``xsd/`` with its ``iplos_2019_Annotations.xsd`` (the register's own checks and the code
lists each field refers to, by kodeverk number; the schema does not include it) so that
every service can check a file without the standards folder; a conformance test holds the
copies byte for byte to ``shared/standards/kpr/iplos-3.7/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from lxml import etree

NAMESPACE: Final = "http://www.npr.no/xmlstds/iplos/2019"
VERSION: Final = "3.7"
XSD_DIR: Final = Path(__file__).with_name("xsd")
XSD_PATH: Final = XSD_DIR / "iplos_2019.xsd"
XSD_FILES: Final = ("iplos_2019.xsd", "iplos_2019_Annotations.xsd")


def qname(local: str) -> str:
    """The Clark-notation name of an element of this format."""
    return f"{{{NAMESPACE}}}{local}"


@cache
def schema() -> etree.XMLSchema:
    """The compiled ``iplos_2019.xsd``, once per process (each parse validates with its own
    context, so one schema serves every thread)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_PATH), parser))
