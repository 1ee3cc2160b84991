"""Parse XML from outside safely: no DTDs, no entities, no network, bounded size and depth.

A health message never needs a DOCTYPE, so any DOCTYPE is treated as hostile (billion laughs,
external entities, DTD fetches) and refused, whether or not the parser would have expanded it.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from kpr_gateway.messages.errors import MalformedXmlError, UnsafeXmlError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# "<!DOCTYPE" as it appears in the encodings an XML parser detects from the first bytes. A match
# anywhere refuses the input without parsing it; the text inside a comment or CDATA section is a
# false positive we accept, since no legitimate message needs it.
_DOCTYPE = "<!DOCTYPE"
_DOCTYPE_MARKERS = tuple(
    _DOCTYPE.encode(codec)
    for codec in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)

# libxml2 error types that mean "a limit protected us", not "the author made a typo".
_LIMIT_ERRORS = frozenset(
    {"ERR_RESOURCE_LIMIT", "ERR_ENTITY_LOOP", "ERR_ENTITY_AMPLIFICATION", "ERR_NO_MEMORY"}
)


def _new_parser(*, large_text: bool = False) -> etree.XMLParser:
    # A fresh parser per call: lxml parsers keep per-parse state and are cheap to create.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=large_text,
        collect_ids=False,
    )


def _contains_doctype(data: bytes) -> bool:
    if _DOCTYPE_MARKERS[0] in data:
        return True
    # Every UTF-16 and UTF-32 form of "<!DOCTYPE" holds NUL bytes: input without any (all
    # UTF-8 input) needs one scan, not five (each a pass over a message of megabytes).
    return b"\x00" in data and any(marker in data for marker in _DOCTYPE_MARKERS[1:])


def parse_xml(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, large_text: bool = False
) -> etree._Element:
    """Parse ``data`` and return its root element.

    Raises ``UnsafeXmlError`` for input over ``max_bytes``, any DOCTYPE, or input that trips a
    parser limit (nesting deeper than 256, entity amplification), and ``MalformedXmlError`` for
    input that is not well-formed XML. Messages carry positions only, never document text.

    ``large_text``: a text node may hold more than libxml2's 10,000,000 characters (a
    MsgHead whose Base64Container carries a large municipality's zipped year). It lifts
    libxml2's size limits (XML_PARSE_HUGE); ``max_bytes`` still bounds the input, and with no
    DOCTYPE and no entity expansion there is nothing to amplify.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_xml expects bytes")
    raw = bytes(data)
    if len(raw) > max_bytes:
        raise UnsafeXmlError(
            f"XML input of {len(raw)} bytes exceeds the limit of {max_bytes} bytes"
        )
    if _contains_doctype(raw):
        raise UnsafeXmlError("XML input contains a DOCTYPE declaration, which is never accepted")
    parser = _new_parser(large_text=large_text)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise _translate_syntax_error(exc, parser) from exc
    except (etree.LxmlError, ValueError) as exc:
        raise MalformedXmlError(f"XML input could not be parsed ({type(exc).__name__})") from exc
    # Second line of defence for encodings the byte scan does not cover (EBCDIC, UCS-4 variants).
    if _has_doctype(root):
        raise UnsafeXmlError("XML input contains a DOCTYPE declaration, which is never accepted")
    return root


def _has_doctype(root: etree._Element) -> bool:
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack doctype/internalDTD
    return bool(docinfo.doctype) or docinfo.internalDTD is not None


def _translate_syntax_error(
    exc: etree.XMLSyntaxError, parser: etree.XMLParser
) -> UnsafeXmlError | MalformedXmlError:
    # The parser's own log holds this parse only; the exception's may hold earlier ones.
    log: Any = parser.error_log  # lxml-stubs do not declare _ErrorLog iterable
    entries = list(log)
    kinds = {entry.type_name for entry in entries}
    line, column = exc.position if exc.position else (None, None)
    where = f" at line {line}, column {column}" if line is not None else ""
    if kinds & _LIMIT_ERRORS:
        return UnsafeXmlError(f"XML input exceeds a parser safety limit{where}")
    kind = entries[0].type_name if entries else "ERR_UNKNOWN"
    return MalformedXmlError(
        f"XML input is not well-formed ({kind}){where}", line=line, column=column
    )
