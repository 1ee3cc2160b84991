"""Deterministic serialisation of the documents we build, so golden files stay stable."""

from __future__ import annotations

from lxml import etree

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def to_bytes(root: etree._Element) -> bytes:
    """UTF-8 with a double-quoted XML declaration, two-space indentation, final newline.

    Changes ``root`` in place: indents it (only whitespace-only text between elements is
    touched) and writes empty text as an empty-element tag, so equal trees give equal bytes.
    """
    for element in root.iter():
        if element.text == "":
            element.text = None
    etree.indent(root, space="  ")
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"
