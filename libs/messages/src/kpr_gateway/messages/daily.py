"""The daily shipments of one municipality's numbered notifications: KPR_IPL messages that
each stay within the size limit of the Tjenestebuss.

NHN recommends at most 1 MB per message on the Tjenestebuss; a message whose MsgHead would
be larger is split in two, in chain order, until every part fits. Each part is a message of
its own (its own batch id, MsgId and AppRec) that continues the chain where the part before
it ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from kpr_gateway.messages.iplos_kpr import (
    KprDocumentError,
    MeldingHeader,
    NumberedNotification,
    build_melding_with_source,
)
from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.messages.shipments import Shipment, build_shipment

DEFAULT_MAX_MESSAGE_BYTES: Final = 1_000_000
"""NHN's recommended ceiling for one message on the Tjenestebuss."""


@dataclass(frozen=True, slots=True)
class DailyMessage:
    """One KPR_IPL: its notifications, the Melding's bytes (as built and checked, not
    indented: what the ledger keeps for a resend) and the MsgHead around it."""

    batch_id: uuid.UUID
    numbered: tuple[NumberedNotification, ...]
    kpr_document: bytes
    shipment: Shipment


def build_daily_messages(
    *,
    header: MeldingHeader,
    numbered: Sequence[NumberedNotification],
    sender: Organisation,
    receiver: Organisation,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> list[DailyMessage]:
    """The messages for ``numbered`` (in chain order), each at most ``max_bytes`` as MsgHead.

    Each part is sized from the bytes per notification of the part built before it (a
    first guess for the first), so a notification is built about once, not once per halving.
    """
    items = tuple(numbered)
    built: list[DailyMessage] = []
    per_item = _FIRST_GUESS_BYTES
    start = 0
    while start < len(items):
        count = max(1, min(len(items) - start, int(max_bytes * _FILL / per_item)))
        while True:
            message = _build(header, items[start : start + count], sender, receiver, now, new_id)
            size = len(message.shipment.document)
            per_item = size / count
            if size <= max_bytes:
                break
            if count == 1:
                raise KprDocumentError(
                    f"one notification alone makes a message of {size} bytes, over the "
                    f"limit of {max_bytes}"
                )
            count = max(1, min(count - 1, int(count * max_bytes * _FILL / size)))
        built.append(message)
        start += count
    return built


_FIRST_GUESS_BYTES: Final = 650.0
"""About what one notification takes in an indented MsgHead."""
_FILL: Final = 0.95
"""Aim a little under the limit: a part's notifications vary in size."""


def _build(  # noqa: PLR0917 (a private helper with one caller)
    header: MeldingHeader,
    part: tuple[NumberedNotification, ...],
    sender: Organisation,
    receiver: Organisation,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
) -> DailyMessage:
    batch_id = new_id()
    melding, source = build_melding_with_source(replace(header, local_id=str(batch_id)), part)
    shipment = build_shipment(
        sender=sender, receiver=receiver, melding=melding, msg_id=new_id(), now=now
    )
    return DailyMessage(batch_id, part, source, shipment)
