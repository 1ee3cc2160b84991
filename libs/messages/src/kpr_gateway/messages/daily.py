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
    build_melding,
    to_bytes,
)
from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.messages.shipments import Shipment, build_shipment

DEFAULT_MAX_MESSAGE_BYTES: Final = 1_000_000
"""NHN's recommended ceiling for one message on the Tjenestebuss."""


@dataclass(frozen=True, slots=True)
class DailyMessage:
    """One KPR_IPL: its notifications, the Melding's bytes and the MsgHead around it."""

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
    """The messages for ``numbered`` (in chain order), each at most ``max_bytes`` as MsgHead."""
    if not numbered:
        return []
    pending: list[tuple[NumberedNotification, ...]] = [tuple(numbered)]
    built: list[DailyMessage] = []
    while pending:
        part = pending.pop(0)
        message = _build(header, part, sender, receiver, now, new_id)
        if len(message.shipment.document) <= max_bytes:
            built.append(message)
            continue
        if len(part) == 1:
            raise KprDocumentError(
                f"one notification alone makes a message of {len(message.shipment.document)} "
                f"bytes, over the limit of {max_bytes}"
            )
        half = _split_point(part, len(message.shipment.document), max_bytes)
        pending[:0] = [part[:half], part[half:]]
    return built


def _split_point(part: tuple[NumberedNotification, ...], size: int, max_bytes: int) -> int:
    # Aim the first half at ~90 % of the limit, so that a large batch splits in few builds
    # rather than halving again and again; never an empty half.
    share = max_bytes * 0.9 / size
    return max(1, min(len(part) - 1, int(len(part) * share)))


def _build(  # noqa: PLR0917 (a private helper with one caller)
    header: MeldingHeader,
    part: tuple[NumberedNotification, ...],
    sender: Organisation,
    receiver: Organisation,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
) -> DailyMessage:
    batch_id = new_id()
    melding = build_melding(replace(header, local_id=str(batch_id)), part)
    shipment = build_shipment(
        sender=sender, receiver=receiver, melding=melding, msg_id=new_id(), now=now
    )
    return DailyMessage(batch_id, part, to_bytes(melding), shipment)
