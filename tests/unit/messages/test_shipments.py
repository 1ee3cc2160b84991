"""build_shipment: the KPR_IPL MsgHead around one Melding, written the fast way (the Melding
indented into the envelope) with the bytes of the general way, and read back whole."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

import pytest
from lxml import etree

from kpr_gateway.messages.iplos_kpr import (
    MSG_TYPE,
    ChainHead,
    build_melding,
    number,
    parse_melding,
)
from kpr_gateway.messages.msghead import (
    MsgHead,
    Organisation,
    build_msghead,
    canonical_document,
    parse_msghead,
)
from kpr_gateway.messages.shipments import MSG_TYPE_TEXT, Shipment, build_shipment
from tests.unit.iplos_kpr.examples import FODSELSNUMMER, HEADER, SECRET, event_id, notification
from tests.unit.iplos_kpr.golden import golden_melding, golden_numbered

NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
MSG_ID = uuid.UUID("4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e")
SENDER = Organisation("Oslo kommune", "90001", "958935420", Organisation("Saksbehandling", "90002"))
RECEIVER = Organisation("Folkehelseinstituttet", "85217", None, Organisation("KPR", "171479"))


def shipment_of(melding: etree._Element) -> Shipment:
    return build_shipment(sender=SENDER, receiver=RECEIVER, melding=melding, msg_id=MSG_ID, now=NOW)


def general_way(melding: etree._Element) -> bytes:
    return build_msghead(
        MsgHead(
            msg_type=MSG_TYPE,
            msg_type_text=MSG_TYPE_TEXT,
            msg_id=str(MSG_ID),
            gen_date=NOW,
            sender=SENDER,
            receiver=RECEIVER,
            issue_date=NOW,
            document=melding,
        )
    )


def large_melding(count: int) -> etree._Element:
    items = [
        notification(
            event_id=event_id(index + 1),
            service_id=f'A&B <{index}> "x"',
            person={"user_number": f"U{index % 17}"},
        )
        for index in range(count)
    ]
    return build_melding(HEADER, number(ChainHead(), items, SECRET)[0])


def test_a_shipment_is_one_kpr_ipl_with_its_msg_id() -> None:
    shipment = shipment_of(golden_melding())
    assert (shipment.msg_id, shipment.msg_type) == (MSG_ID, "KPR_IPL")
    head = parse_msghead(shipment.document)
    assert head.msg_id == str(MSG_ID)
    assert (head.msg_type, head.msg_type_text) == ("KPR_IPL", MSG_TYPE_TEXT)
    assert (head.sender, head.receiver) == (SENDER, RECEIVER)
    assert head.gen_date == head.issue_date == NOW
    assert head.ack_requested


@pytest.mark.parametrize("count", [0, 1, 12, 400])
def test_the_fast_way_gives_the_bytes_of_the_general_one(count: int) -> None:
    melding = golden_melding() if count == 12 else large_melding(count)
    assert shipment_of(melding).document == general_way(melding)


def test_a_melding_inside_another_tree_is_written_the_general_way() -> None:
    melding = golden_melding()
    holder = etree.Element("holder")
    holder.append(copy.deepcopy(melding))
    assert shipment_of(holder[0]).document == general_way(melding)


def test_the_melding_comes_back_whole() -> None:
    melding = golden_melding()
    shipment = shipment_of(melding)
    inline = parse_msghead(shipment.document).document
    assert canonical_document(inline) == canonical_document(melding)
    parsed = parse_melding(inline)
    assert [n.seq for n in parsed.notifications] == [n.seq for n in golden_numbered()]


def test_building_leaves_the_melding_alone() -> None:
    melding = golden_melding()
    before = etree.tostring(melding)
    shipment_of(melding)
    assert etree.tostring(melding) == before
    assert melding.getparent() is None


def test_ident_and_health_data_travel_together() -> None:
    # The specification: one message carries both; the national id is in the KPR_IPL itself.
    document = shipment_of(large_melding(1)).document
    assert f'fid="{FODSELSNUMMER}"'.encode() in document
