"""A batch of KPR KTT events as its two shipments: KPR_IPL and KPR_IDE, each in its own MsgHead.

Each shipment has its own MsgId (and so its own AppRec); both KPR documents carry
the batch id as their message GUID, which ties the pair together for KPR.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1 import (
    MSG_TYPE_FAGMELDING,
    MSG_TYPE_IDENTMELDING,
    KprBatch,
    KttEvent,
    build_fagmelding,
    build_identmelding,
)
from kpr_gateway.messages.msghead import MsgHead, Organisation, build_msghead

MSG_TYPE_TEXTS = {
    MSG_TYPE_FAGMELDING: "KPR kommunal tjenestetildeling, fagmelding",
    MSG_TYPE_IDENTMELDING: "KPR kommunal tjenestetildeling, identmelding",
}


@dataclass(frozen=True, slots=True)
class Shipment:
    msg_id: str
    msg_type: str
    document: bytes


@dataclass(frozen=True, slots=True)
class Shipments:
    batch_id: str
    fagmelding: Shipment
    identmelding: Shipment

    def __iter__(self) -> Iterator[Shipment]:
        return iter((self.fagmelding, self.identmelding))


def build_shipments(
    *,
    sender: Organisation,
    receiver: Organisation,
    municipality_number: str,
    reporter_org_number: str,
    events: Sequence[KttEvent],
    tenant_secret: bytes,
    now: datetime,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Shipments:
    """The KPR_IPL and KPR_IDE MsgHead documents for one batch of a tenant's events."""
    batch = KprBatch(
        message_id=new_id(),
        created=now,
        municipality_number=municipality_number,
        reporter_org_number=reporter_org_number,
        events=events,
        tenant_secret=tenant_secret,
    )
    builders: tuple[tuple[str, Callable[[KprBatch], etree._Element]], ...] = (
        (MSG_TYPE_FAGMELDING, build_fagmelding),
        (MSG_TYPE_IDENTMELDING, build_identmelding),
    )
    shipments = []
    for msg_type, build in builders:
        msg_id = new_id()
        head = MsgHead(
            msg_type=msg_type,
            msg_type_text=MSG_TYPE_TEXTS[msg_type],
            msg_id=str(msg_id),
            gen_date=now,
            sender=sender,
            receiver=receiver,
            issue_date=now,
            document=build(batch),
        )
        # The KPR documents are parsed from text written without indentation (kpr_ktt_v1).
        document = build_msghead(head, compact_document=True)
        shipments.append(Shipment(str(msg_id), msg_type, document))
    return Shipments(str(batch.message_id), shipments[0], shipments[1])
