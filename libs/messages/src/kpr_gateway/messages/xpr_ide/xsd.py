"""The format's identity (namespace, version, schema).

The schema is the official XPR(ide) 53.1.3 from Helsedirektoratet (``XPR(ide).xsd`` with
``XPR(ide)_CodingSchemes.xsd`` and ``NPR.xsd``), shipped in ``xsd/`` so that every service
can check a file without the standards folder; a conformance test holds the copies byte for
byte to ``shared/standards/kpr/xpr-53.1.3/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from lxml import etree

NAMESPACE: Final = "http://www.npr.no/xmlstds/53_1_3_ide"
VERSION: Final = "53.1.3"
XSD_DIR: Final = Path(__file__).with_name("xsd")
XSD_PATH: Final = XSD_DIR / "XPR(ide).xsd"
XSD_FILES: Final = ("XPR(ide).xsd", "XPR(ide)_CodingSchemes.xsd", "NPR.xsd")


def qname(local: str) -> str:
    """The Clark-notation name of an element of this format."""
    return f"{{{NAMESPACE}}}{local}"


@cache
def schema() -> etree.XMLSchema:
    """The compiled ``XPR(ide).xsd``, once per process (each parse validates with its own
    context, so one schema serves every thread)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_PATH), parser))
