"""Both packings of the MsgHead's document validate against the official MsgHead XSD (which
imports kith-base64.xsd), and a packed document validates on its own once unpacked."""

from __future__ import annotations

import pytest
from lxml import etree

from kpr_gateway.messages import iplos_kpr
from kpr_gateway.messages.msghead import build_msghead, document_bytes, parse_msghead
from kpr_gateway.messages.packing import Packing, pack_bytes
from kpr_gateway.messages.schemas import SchemaSet, validate_document
from tests.unit.iplos_kpr.examples import HEADER, notification, numbered
from tests.unit.messages.examples import head

FAKE_NATIONAL_ID = "13116900216"


def kpr_ipl(packing: Packing) -> bytes:
    melding = iplos_kpr.build_melding(
        HEADER, numbered([notification(person={"national_id": FAKE_NATIONAL_ID})])
    )
    if packing is Packing.INLINE:
        return build_msghead(head(msg_type=iplos_kpr.MSG_TYPE, document=melding))
    packed = pack_bytes(iplos_kpr.to_bytes(melding))
    return build_msghead(head(msg_type=iplos_kpr.MSG_TYPE, document=packed.container()))


@pytest.mark.parametrize("packing", list(Packing))
def test_kpr_ipl_validates_in_both_packings(packing: Packing, default_schemas: SchemaSet) -> None:
    data = kpr_ipl(packing)
    assert validate_document(data, default_schemas) == []
    unpacked = document_bytes(parse_msghead(data))
    assert validate_document(unpacked, default_schemas) == []
    assert FAKE_NATIONAL_ID.encode() in unpacked


def test_a_container_that_is_not_base64_fails_the_official_schema(
    default_schemas: SchemaSet,
) -> None:
    root = etree.fromstring(kpr_ipl(Packing.BASE64_ZIP))
    [container] = root.iter("{http://www.kith.no/xmlstds/base64container}Base64Container")
    container.text = "not base64 at all!"
    issues = validate_document(etree.tostring(root), default_schemas)
    assert len(issues) == 1
    assert "base64Binary" in issues[0].message


def test_an_invalid_packed_document_is_found_once_unpacked(default_schemas: SchemaSet) -> None:
    melding = iplos_kpr.build_melding(HEADER, numbered([notification()]))
    etree.SubElement(melding, f"{{{iplos_kpr.NAMESPACE}}}Unexpected").text = "x"
    packed = pack_bytes(etree.tostring(melding))
    data = build_msghead(head(msg_type=iplos_kpr.MSG_TYPE, document=packed.container()))
    # The MsgHead sees base64 only; the document's own schema sees the sabotage.
    assert validate_document(data, default_schemas) == []
    issues = validate_document(document_bytes(parse_msghead(data)), default_schemas)
    assert ["Unexpected" in issue.message for issue in issues] == [True]
