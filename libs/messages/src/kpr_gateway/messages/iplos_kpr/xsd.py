"""The format's identity (namespace, version, schema) and its validation.

The schema is the official XPR(ipl) 56.0.0 from Helsedirektoratet (``XPR(ipl).xsd`` with
``XPR(ipl)_CodingSchemes.xsd`` and ``NPR.xsd``), shipped in ``xsd/`` next to this file so
that every service can check what it builds without the standards folder; a conformance test
holds the copies byte for byte to ``shared/standards/kpr/xpr-ipl-56.0.0/``.

Validation errors name the line, the element path and the kind of error, never the
offending value: the value could be a national id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Final, Protocol, cast
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.iplos_kpr.errors import KprDocumentError
from kpr_gateway.messages.xmlsafe import parse_xml

NAMESPACE: Final = "http://www.npr.no/xmlstds/56_0_0_ipl"
VERSION: Final = "56.0.0"
MESSAGE_KIND: Final = "K"
"""meldingstype, kodeverk 7371: K, continuous updates (fixed for IPLOS i KPR)."""
XSD_DIR: Final = Path(__file__).with_name("xsd")
XSD_PATH: Final = XSD_DIR / "XPR(ipl).xsd"
XSD_FILES: Final = ("XPR(ipl).xsd", "XPR(ipl)_CodingSchemes.xsd", "NPR.xsd")
GUID_EMPTY: Final = UUID(int=0)
"""Guid.Empty: ``notifikasjonForrigeGUID`` of a municipality's first notification."""

MELDING_TAG: Final = f"{{{NAMESPACE}}}Melding"

_MAX_REPORTED: Final = 5
_ELEMENT_NAME: Final = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z_][\w.-]*)'")


class _LogEntry(Protocol):
    # The part of lxml's _LogEntry used here; lxml-stubs leave _ErrorLog empty.
    line: int
    path: str
    type_name: str
    message: str


def qname(local: str) -> str:
    """The Clark-notation name of an element of this format."""
    return f"{{{NAMESPACE}}}{local}"


# Builders and parsers run in worker threads (asyncio.to_thread): compiling the schema
# and validating with it (its error log lives on the schema object) happen under a lock.
_SCHEMA_LOCK = threading.Lock()


@cache
def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_PATH), parser))


def validate_document(element: etree._Element) -> None:
    """Raise KprDocumentError unless ``element`` is a valid ``Melding`` of 56.0.0."""
    with _SCHEMA_LOCK:
        schema = _schema()
        if schema.validate(element):
            return
        entries = list(cast("Iterable[_LogEntry]", schema.error_log))
    problems = [_describe(entry) for entry in entries[:_MAX_REPORTED]]
    raise KprDocumentError("document is not valid against XPR(ipl).xsd: " + "; ".join(problems))


def _describe(entry: _LogEntry) -> str:
    # libxml2's message quotes the offending value after the element name: keep the name only.
    named = _ELEMENT_NAME.match(entry.message)
    element = f"{named.group(1)} " if named else ""
    return f"line {entry.line}, {element}at {entry.path}: {entry.type_name}"


def parse_document(data: bytes) -> etree._Element:
    """Parse the bytes of a document with the safe parser of kpr_gateway.messages.xmlsafe.

    Raises its UnsafeXmlError or MalformedXmlError (both MessagesError) for bad input.
    """
    return parse_xml(data)
