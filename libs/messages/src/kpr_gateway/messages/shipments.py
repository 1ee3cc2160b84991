"""A daily KPR message as it leaves transform: the ``Melding`` of IPLOS i KPR in its MsgHead.

One KPR_IPL per batch, with ident and health data in the same message as the specification
says. Each message has its own MsgId (and so its own AppRec).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.iplos_kpr import MSG_TYPE
from kpr_gateway.messages.msghead import MsgHead, Organisation, build_msghead

MSG_TYPE_TEXT: Final = "IPLOS i KPR, kontinuerlig rapportering (XPR(ipl) 56.0.0)"


@dataclass(frozen=True, slots=True)
class Shipment:
    msg_id: UUID
    msg_type: str
    document: bytes


def build_shipment(
    *,
    sender: Organisation,
    receiver: Organisation,
    melding: etree._Element,
    msg_id: UUID,
    now: datetime,
) -> Shipment:
    """The KPR_IPL MsgHead document around one ``Melding``."""
    head = kpr_msghead(
        msg_type=MSG_TYPE,
        msg_type_text=MSG_TYPE_TEXT,
        msg_id=msg_id,
        sender=sender,
        receiver=receiver,
        document=melding,
        now=now,
    )
    # The Melding is parsed from text written without indentation (iplos_kpr.builder).
    return Shipment(msg_id, MSG_TYPE, build_msghead(head, compact_document=True))


def kpr_msghead(
    *,
    msg_type: str,
    msg_type_text: str,
    msg_id: UUID,
    sender: Organisation,
    receiver: Organisation,
    document: etree._Element,
    now: datetime,
) -> MsgHead:
    """A MsgHead to KPR as the gateway writes them: generated and issued ``now``, the
    document inline or packed (``packing``), daily and annual alike."""
    return MsgHead(
        msg_type=msg_type,
        msg_type_text=msg_type_text,
        msg_id=str(msg_id),
        gen_date=now,
        sender=sender,
        receiver=receiver,
        issue_date=now,
        document=document,
    )
