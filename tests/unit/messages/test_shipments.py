"""A batch's shipments: the fast way of writing them gives the bytes of the general one."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from kpr_gateway.messages.kpr_ktt_v1 import (
    KprBatch,
    KttEvent,
    build_fagmelding,
    build_identmelding,
)
from kpr_gateway.messages.msghead import MsgHead, Organisation, build_msghead
from kpr_gateway.messages.shipments import MSG_TYPE_TEXTS, build_shipments
from tests.unit.kpr_ktt.synthetic import synthetic_national_id

SECRET = b"shipments-test-secret-0123456789"
NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
SENDER = Organisation("Oslo kommune", "90001", "958935420", Organisation("Saksbehandling", "90002"))
RECEIVER = Organisation("Folkehelseinstituttet", "85217", None, Organisation("KPR", "171479"))


def events() -> list[KttEvent]:
    people = [synthetic_national_id(day, 3, 1948, day) for day in range(1, 6)]
    return [
        KttEvent(
            event_id=uuid.UUID(int=number),
            status="NMTC"[number % 4],
            municipality_number="0301",
            national_id=people[number % len(people)],
            service_code="15",
            decision_date=date(2026, 1, 2),
            start_date=date(2026, 1, 5),
            stop_date=date(2026, 2, 1) if number % 3 == 0 else None,
            end_date=date(2026, 3, 1) if number % 5 == 0 else None,
            hours_per_week=Decimal("7.50") if number % 2 else None,
            provider_org_number="987654325" if number % 4 == 0 else None,
            case_reference=f"A&B <{number}> 'x\"" if number % 3 else None,
        )
        for number in range(1, 40)
    ]


def test_shipments_are_the_msgheads_of_the_two_documents() -> None:
    ids = itertools.count(1)
    shipments = build_shipments(
        sender=SENDER,
        receiver=RECEIVER,
        municipality_number="0301",
        reporter_org_number="958935420",
        events=events(),
        tenant_secret=SECRET,
        now=NOW,
        new_id=lambda: uuid.UUID(int=next(ids)),
    )
    batch = KprBatch(
        message_id=uuid.UUID(shipments.batch_id),
        created=NOW,
        municipality_number="0301",
        reporter_org_number="958935420",
        events=events(),
        tenant_secret=SECRET,
    )
    for shipment, build in zip(shipments, (build_fagmelding, build_identmelding), strict=True):
        head = MsgHead(
            msg_type=shipment.msg_type,
            msg_type_text=MSG_TYPE_TEXTS[shipment.msg_type],
            msg_id=shipment.msg_id,
            gen_date=NOW,
            sender=SENDER,
            receiver=RECEIVER,
            issue_date=NOW,
            document=build(batch),
        )
        assert shipment.document == build_msghead(head)
