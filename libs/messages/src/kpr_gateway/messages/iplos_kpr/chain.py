"""A municipality's chain of notifications: ``notifikasjonLopeNr`` rises by one per
notification and ``notifikasjonForrigeGUID`` names the one before (Guid.Empty first).

The register checks order and completeness with them, so the gateway numbers notifications
itself, when a batch is committed (the ledger holds the chain's head and refuses a commit
that does not continue it). This module only does the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from kpr_gateway.messages.iplos_kpr.builder import NumberedNotification
from kpr_gateway.messages.iplos_kpr.identity import patient_guids
from kpr_gateway.messages.iplos_kpr.models import Notification
from kpr_gateway.messages.iplos_kpr.xsd import GUID_EMPTY


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last numbered notification of a municipality: (0, Guid.Empty) before the first."""

    seq: int = 0
    guid: UUID = GUID_EMPTY


def number(
    head: ChainHead, notifications: Iterable[Notification], tenant_secret: bytes
) -> tuple[list[NumberedNotification], ChainHead]:
    """Number ``notifications`` in their order after ``head``; the new head with them."""
    items = list(notifications)
    guids = patient_guids((n.person.user_number for n in items), tenant_secret)
    numbered: list[NumberedNotification] = []
    seq, previous = head.seq, head.guid
    for notification in items:
        seq += 1
        numbered.append(
            NumberedNotification(
                notification, seq, previous, guids[notification.person.user_number]
            )
        )
        previous = notification.event_id
    return numbered, ChainHead(seq, previous)


def head_after(numbered: Sequence[NumberedNotification], head: ChainHead) -> ChainHead:
    """The head once ``numbered`` is committed (``head`` when it is empty)."""
    if not numbered:
        return head
    last = numbered[-1]
    return ChainHead(last.seq, last.notification.event_id)
