"""The daily shipment: one KPR_IPL MsgHead per batch with the Melding inline (ident and health
data together), valid against the official schemas; ``kprgw kpr build`` writes such messages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from typer.testing import CliRunner

from kpr_gateway.cli.main import app
from kpr_gateway.messages.iplos_kpr import GUID_EMPTY, parse_melding
from kpr_gateway.messages.msghead import Organisation, parse_msghead
from kpr_gateway.messages.schemas import SchemaSet, validate_document
from kpr_gateway.messages.shipments import build_shipment
from tests.unit.iplos_kpr.examples import expected_notification
from tests.unit.iplos_kpr.golden import EVENTS, golden_events, golden_melding, golden_numbered

REPO = Path(__file__).resolve().parents[3]
TENANT = REPO / "examples" / "tenant-oslo.yaml"
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


def test_one_kpr_ipl_per_batch_with_the_melding_inline(
    default_schemas: SchemaSet, official_schemas: SchemaSet
) -> None:
    msg_id = uuid.uuid4()
    shipment = build_shipment(
        sender=SENDER,
        receiver=RECEIVER,
        melding=golden_melding(),
        msg_id=msg_id,
        now=datetime(2026, 1, 6, 3, 0, tzinfo=UTC),
    )
    assert validate_document(shipment.document, default_schemas) == []
    assert validate_document(shipment.document, official_schemas) == []
    head = parse_msghead(shipment.document)
    assert (head.msg_id, head.msg_type) == (str(msg_id), "KPR_IPL")
    assert (head.sender, head.receiver) == (SENDER, RECEIVER)
    assert head.ack_requested
    parsed = parse_melding(head.document)
    assert parsed.notifications == tuple(expected_notification(n) for n in golden_numbered())
    # Ident inline: the person's id travels in the same message as the event.
    assert {n.person.national_id for n in parsed.notifications} == {
        e.person.national_id for e in golden_events()
    }


def run_build(events: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["kpr", "build", "--tenant", str(TENANT), "--events", str(events), "--out", str(out)],
    )
    return result.exit_code, result.output


def test_kprgw_kpr_build_writes_valid_messages(
    tmp_path: Path,
    default_schemas: SchemaSet,
    official_schemas: SchemaSet,
    official_xpr_schema: etree.XMLSchema,
) -> None:
    code, output = run_build(EVENTS, tmp_path)
    assert code == 0, output
    written = sorted(tmp_path.iterdir())
    assert written
    assert all(re.fullmatch(r"KPR_IPL-[0-9a-f-]{36}\.xml", path.name) for path in written)
    seqs: list[int] = []
    for path in written:
        data = path.read_bytes()
        assert validate_document(data, default_schemas) == []
        assert validate_document(data, official_schemas) == []
        melding = parse_msghead(data).document
        assert official_xpr_schema.validate(melding), official_xpr_schema.error_log
        seqs.extend(n.seq for n in parse_melding(melding).notifications)
    assert sorted(seqs) == list(range(1, len(golden_events()) + 1))


def test_kprgw_kpr_build_chain_starts_after_guid_empty(tmp_path: Path) -> None:
    code, output = run_build(EVENTS, tmp_path)
    assert code == 0, output
    firsts = [
        parse_melding(parse_msghead(path.read_bytes()).document).notifications[0]
        for path in tmp_path.iterdir()
    ]
    assert [n.previous for n in firsts if n.seq == 1] == [GUID_EMPTY]


def test_kprgw_kpr_build_names_the_bad_line(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    good = EVENTS.read_text(encoding="utf-8").splitlines()[0]
    events.write_text(good + "\n" + good.replace('"service_type": "21"', '"service_type": 21'))
    code, output = run_build(events, tmp_path / "out")
    assert code == 1
    assert "line 2: service_type" in output
    assert "14834812410" not in output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
