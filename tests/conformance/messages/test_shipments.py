"""A batch's two shipments: KPR_IPL and KPR_IDE, each a valid MsgHead with the document inline."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpr_gateway.cli.main import app
from kpr_gateway.messages.kpr_ktt_v1 import (
    KttEvent,
    parse_fagmelding,
    parse_identmelding,
    person_key,
)
from kpr_gateway.messages.msghead import Organisation, parse_msghead
from kpr_gateway.messages.schemas import SchemaSet, validate_document
from kpr_gateway.messages.shipments import build_shipments

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "examples" / "events.ndjson"
SECRET = b"a-tenant-secret-of-at-least-32-bytes!!"
SENDER = Organisation(
    name="Oslo kommune",
    her_id="90001",
    org_number="958935420",
    service=Organisation(name="Saksbehandling", her_id="90002"),
)
RECEIVER = Organisation(
    name="Folkehelseinstituttet",
    her_id="85217",
    service=Organisation(name="KPR Validering", her_id="171479"),
)


@pytest.fixture(scope="module")
def events() -> list[KttEvent]:
    return [KttEvent.model_validate_json(line) for line in EVENTS.read_text().splitlines()]


def test_two_shipments_with_their_own_msg_ids_and_a_shared_batch_id(
    events: list[KttEvent], default_schemas: SchemaSet
) -> None:
    now = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    shipments = build_shipments(
        sender=SENDER,
        receiver=RECEIVER,
        municipality_number="0301",
        reporter_org_number="958935420",
        events=events,
        tenant_secret=SECRET,
        now=now,
    )
    ipl, ide = shipments
    assert (ipl.msg_type, ide.msg_type) == ("KPR_IPL", "KPR_IDE")
    assert ipl.msg_id != ide.msg_id
    for shipment in shipments:
        assert validate_document(shipment.document, default_schemas) == []
        head = parse_msghead(shipment.document)
        assert (head.msg_id, head.msg_type) == (shipment.msg_id, shipment.msg_type)
        assert (head.sender, head.receiver) == (SENDER, RECEIVER)
        assert head.ack_requested

    fagmelding = parse_fagmelding(parse_msghead(ipl.document).document)
    identmelding = parse_identmelding(parse_msghead(ide.document).document)
    assert str(fagmelding.header.message_id) == str(identmelding.header.message_id)
    assert str(fagmelding.header.message_id) == shipments.batch_id
    assert uuid.UUID(shipments.batch_id)
    # the fagmelding has no national id; the identmelding links each key to one
    national_ids = {e.national_id for e in events}
    assert not any(nid.encode() in ipl.document for nid in national_ids)
    assert {p.national_id for p in identmelding.persons} == national_ids
    keys = {person_key(nid, SECRET) for nid in national_ids}
    assert {p.person_key for p in identmelding.persons} == keys
    assert {e.person_key for e in fagmelding.events} == keys


def test_kprgw_kpr_build_writes_valid_documents(tmp_path: Path, default_schemas: SchemaSet) -> None:
    result = CliRunner().invoke(
        app,
        [
            "kpr",
            "build",
            "--tenant",
            str(REPO / "examples" / "tenant-oslo.yaml"),
            "--events",
            str(EVENTS),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(tmp_path.iterdir())
    names = [re.fullmatch(r"(KPR_IPL|KPR_IDE)-([0-9a-f-]{36})\.xml", p.name) for p in written]
    assert [m.group(1) for m in names if m] == ["KPR_IDE", "KPR_IPL"]
    for path in written:
        assert validate_document(path.read_bytes(), default_schemas) == []


def test_kprgw_kpr_build_names_the_bad_line(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    good = EVENTS.read_text().splitlines()[0]
    events.write_text(good + "\n" + good.replace('"service_code": "15"', '"service_code": 15'))
    result = CliRunner().invoke(
        app,
        [
            "kpr",
            "build",
            "--tenant",
            str(REPO / "examples" / "tenant-oslo.yaml"),
            "--events",
            str(events),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1
    assert "line 2: service_code" in result.output
    assert not (tmp_path / "out").exists()
