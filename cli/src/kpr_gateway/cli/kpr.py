"""``kprgw kpr``: build the KPR_IPL and KPR_IDE MsgHead documents for a file of events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from kpr_gateway.cli.output import fail
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent, describe_errors
from kpr_gateway.messages.shipments import build_shipments
from kpr_gateway.tenancy import TenancyError, kpr_receiver, load_tenant, read_pseudonym_secret

app = typer.Typer(no_args_is_help=True, help="KPR KTT documents.")


@app.callback()
def _group() -> None:
    """KPR KTT documents."""


@app.command()
def build(
    tenant: Annotated[Path, typer.Option("--tenant", help="YAML file describing one tenant.")],
    events: Annotated[Path, typer.Option("--events", help="NDJSON file, one event per line.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the documents to.")],
) -> None:
    """Write KPR_IPL-<MsgId>.xml and KPR_IDE-<MsgId>.xml for the events, for inspection."""
    try:
        described = load_tenant(tenant)
        secret = read_pseudonym_secret(described)
    except TenancyError as exc:
        fail(str(exc))
    parsed = read_events(events)
    try:
        shipments = build_shipments(
            sender=described.sender_organisation(),
            receiver=kpr_receiver(described.environment),
            municipality_number=described.municipality_number,
            reporter_org_number=described.org_number,
            events=parsed,
            tenant_secret=secret,
            now=datetime.now(UTC),
        )
    except MessagesError as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    for shipment in shipments:
        path = out / f"{shipment.msg_type}-{shipment.msg_id}.xml"
        path.write_bytes(shipment.document)
        typer.echo(str(path))


def read_events(path: Path) -> list[KttEvent]:
    """Events from an NDJSON file; a bad line fails with its number and field reasons."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot be read ({type(exc).__name__})")
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(KttEvent.model_validate_json(line))
        except ValidationError as exc:
            reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in describe_errors(exc))
            fail(f"{path} line {number}: {reasons}")
    if not events:
        fail(f"{path}: no events")
    return events
