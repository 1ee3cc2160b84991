"""``kprgw kpr build``: the KPR_IPL messages (IPLOS i KPR, XPR(ipl) 56.0.0) for a file of
notifications, written to disk for inspection and validation; nothing is sent.

The notifications are numbered as transform numbers them: one chain per municipality, from 1
after Guid.Empty, or after a given head (``--after-seq``/``--after-guid``) to show how a chain
continues. The rules are not applied (``kprgw events check`` does that): every notification
of the file is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from kpr_gateway.cli.notifications import read_notifications
from kpr_gateway.cli.output import fail
from kpr_gateway.messages.daily import DEFAULT_MAX_MESSAGE_BYTES, build_daily_messages
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.iplos_kpr import (
    ChainHead,
    MeldingHeader,
    Notification,
    number,
)
from kpr_gateway.tenancy import (
    TenancyError,
    Tenant,
    kpr_receiver,
    load_tenant,
    read_pseudonym_secret,
)
from kpr_gateway.transform.app import GATEWAY_VERSION

app = typer.Typer(no_args_is_help=True, help="KPR messages (IPLOS i KPR).")

EXIT_USAGE = 2


@app.callback()
def _group() -> None:
    """KPR messages (IPLOS i KPR)."""


@app.command()
def build(
    *,
    tenant: Annotated[Path, typer.Option("--tenant", help="YAML file describing one tenant.")],
    events: Annotated[
        Path, typer.Option("--events", help="NDJSON file, one notification per line.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the messages to.")],
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            help="The EPJ client whose system the messages name (default: the tenant's).",
        ),
    ] = None,
    after_seq: Annotated[
        int | None,
        typer.Option("--after-seq", min=0, help="Continue a chain after this sequence number."),
    ] = None,
    after_guid: Annotated[
        uuid.UUID | None,
        typer.Option("--after-guid", help="... and this notification (its event_id)."),
    ] = None,
    max_message_bytes: Annotated[
        int,
        typer.Option(
            "--max-message-bytes", min=10_000, help="Split messages larger than this (MsgHead)."
        ),
    ] = DEFAULT_MAX_MESSAGE_BYTES,
) -> None:
    """Write KPR_IPL-<MsgId>.xml per message and print each path, then each municipality's
    chain head after the build."""
    start = _start_head(after_seq, after_guid)
    try:
        described = load_tenant(tenant)
        secret = read_pseudonym_secret(described)
        profile = described.melding_profile(client)
    except TenancyError as exc:
        fail(exc)
    chains = _by_municipality(read_notifications(events))
    if start is not None and len(chains) > 1:
        fail(
            f"--after-seq/--after-guid continue one chain, the file has {len(chains)} "
            f"municipalities ({', '.join(chains)})",
            code=EXIT_USAGE,
        )
    _note_foreign(described, chains)
    now = datetime.now(UTC)
    written: list[Path] = []
    heads: dict[str, ChainHead] = {}
    out.mkdir(parents=True, exist_ok=True)
    for municipality, notifications in chains.items():
        try:
            numbered, heads[municipality] = number(start or ChainHead(), notifications, secret)
            header = MeldingHeader(
                municipality_number=municipality,
                system=profile.system,
                gateway_version=GATEWAY_VERSION,
                contacts=profile.contacts,
            )
            messages = build_daily_messages(
                header=header,
                numbered=numbered,
                sender=described.sender_organisation(),
                receiver=kpr_receiver(described.environment),
                now=now,
                max_bytes=max_message_bytes,
            )
        except MessagesError as exc:
            fail(f"municipality {municipality}: {exc}")
        for message in messages:
            path = out / f"{message.shipment.msg_type}-{message.shipment.msg_id}.xml"
            path.write_bytes(message.shipment.document)
            written.append(path)
    for path in written:
        typer.echo(str(path))
    for municipality, head in heads.items():
        typer.echo(f"chain {municipality}: head seq {head.seq} guid {head.guid}")


def _start_head(after_seq: int | None, after_guid: uuid.UUID | None) -> ChainHead | None:
    if (after_seq is None) != (after_guid is None):
        fail("--after-seq and --after-guid go together (both or neither)", code=EXIT_USAGE)
    if after_seq is None or after_guid is None:
        return None
    head = ChainHead(after_seq, after_guid)
    if (head.seq == 0) != (head.guid == ChainHead().guid):
        fail(
            "a chain's head is seq 0 with Guid.Empty before its first notification, "
            "a positive seq with that notification's event_id after it",
            code=EXIT_USAGE,
        )
    return head


def _by_municipality(notifications: Sequence[Notification]) -> dict[str, list[Notification]]:
    """One chain per municipality, each in file order."""
    chains: dict[str, list[Notification]] = {}
    for notification in notifications:
        chains.setdefault(notification.municipality_number, []).append(notification)
    return chains


def _note_foreign(tenant: Tenant, chains: dict[str, list[Notification]]) -> None:
    others = [m for m in chains if m != tenant.municipality_number]
    if others:
        typer.echo(
            f"note: notifications for municipality {', '.join(others)}, not the tenant's "
            f"{tenant.municipality_number}: each gets its own chain",
            err=True,
        )
