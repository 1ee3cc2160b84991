"""A municipality's chain of notifications as the ledger keeps it.

transform numbers a batch (``kpr_gateway.messages.iplos_kpr.number``) after the head it read;
the ledger stores each link with its event in the commit's one atomic step, and refuses a
commit that does not continue the stored head (another builder committed first: the chain
moved) or that does not continue itself (a gap or a fork: a programming error).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from kpr_gateway.ledger.errors import ChainBrokenError
from kpr_gateway.ledger.replies import text
from kpr_gateway.ledger.states import EventState
from kpr_gateway.messages.iplos_kpr import GUID_EMPTY, ChainHead

GUID_EMPTY_TEXT = str(GUID_EMPTY)
ORIGINAL = "N"
CORRECTIONS = frozenset({"M", "C"})
ORIGINAL_NOT_SENT = "original_not_sent"
"""The refusal of a correction whose original has no number yet: it is sent after it."""


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One numbered notification: its event, ``notifikasjonLopeNr`` and the one before it."""

    event_id: str
    seq: int
    previous: str
    """The previous notification's event id (Guid.Empty for the first)."""
    status: str
    """N, M or C (kodeverk 7316)."""
    corrects: str | None
    """The original's event id, for M and C."""


@dataclass(frozen=True, slots=True)
class ChainCommit:
    """The numbering of a batch: its events are exactly ``links``, in chain order."""

    municipality: str
    expected: ChainHead
    """The head the numbering continued from."""
    links: Sequence[ChainLink]


@dataclass(frozen=True, slots=True)
class ChainReport:
    municipality: str
    length: int
    head: ChainHead
    ok: bool
    problem: str | None
    """The first problem found, naming seq numbers and event ids only."""
    problem_seq: int | None


@dataclass(frozen=True, slots=True)
class OriginalInfo:
    """What the ledger knows of an event a correction names."""

    state: EventState | None
    """None: the ledger does not know the event."""
    status: str | None
    """N, M or C, known once the event is numbered."""
    seq: int | None


def chain_arguments(
    chain: ChainCommit, event_ids: Sequence[str]
) -> tuple[list[str | int], list[str]]:
    """The commit script's chain arguments and the originals its corrections name.

    Per link: the event's 1-based position in ``event_ids``, its id, seq, previous, status
    and corrected id ('' for none). Raises ChainBrokenError for links that cannot be right
    whatever the head (the continuity itself is checked against the stored head, in Redis).
    """
    positions = {event_id: i + 1 for i, event_id in enumerate(event_ids)}
    linked = [link.event_id for link in chain.links]
    if len(positions) != len(event_ids) or sorted(linked) != sorted(positions):
        raise ChainBrokenError(
            f"municipality {chain.municipality}: the links are not the batch's events"
        )
    args: list[str | int] = [
        len(chain.links),
        chain.municipality,
        chain.expected.seq,
        str(chain.expected.guid),
    ]
    originals: list[str] = []
    for link in chain.links:
        _check_link(link)
        args += [
            positions[link.event_id],
            link.event_id,
            link.seq,
            link.previous,
            link.status,
            link.corrects or "",
        ]
        if link.corrects is not None:
            originals.append(link.corrects)
    return args, originals


def _check_link(link: ChainLink) -> None:
    ids = [link.event_id, link.previous] + ([link.corrects] if link.corrects else [])
    if not all(_is_canonical_uuid(value) for value in ids):
        raise ChainBrokenError(f"link seq {link.seq}: ids must be lower-case UUIDs")
    if link.status == ORIGINAL and link.corrects is not None:
        raise ChainBrokenError(f"link seq {link.seq}: an original corrects nothing")
    if link.status in CORRECTIONS and link.corrects is None:
        raise ChainBrokenError(f"link seq {link.seq}: a correction must name its original")
    if link.status != ORIGINAL and link.status not in CORRECTIONS:
        raise ChainBrokenError(f"link seq {link.seq}: status {link.status!r} is not N, M or C")


def _is_canonical_uuid(value: str) -> bool:
    # The head's guid is compared as text in Redis: one spelling per id keeps it exact.
    # A pattern, not str(UUID(value)) == value: this runs for every id of every commit.
    return _CANONICAL_UUID.fullmatch(value) is not None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def head_of(seq: bytes | str | None, guid: bytes | str | None) -> ChainHead:
    """The head from its stored fields (ChainHead() when the chain has none)."""
    if seq is None or guid is None:
        return ChainHead()
    return ChainHead(int(seq), UUID(text(guid)))
