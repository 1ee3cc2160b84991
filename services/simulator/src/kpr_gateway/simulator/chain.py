"""The register's view of each sender's chain of notifications, and its verdict on a message.

Per chain (the sending communication party's HER-id and the municipality number) the
register remembers which ``notifikasjonLopeNr`` it has received with which
``notifikasjonGUID``. A message must continue what was received:

- a number received before with another GUID, or a ``notifikasjonForrigeGUID`` that is not
  the GUID received as the number before, is a **fork**: the message is rejected and nothing
  of it is recorded;
- a number received before with the same GUID is a **repeat** (a resend) and is fine;
- a first number whose predecessor has not arrived is a **gap**. Messages may arrive out of
  order, so the verdict names the number the message waits for and the caller decides how
  long to wait; the message is recorded all the same, so what follows it is not a gap.

Memory is what the bench decides: 100,000s of notifications per chain. Numbers index two
bytearrays (16 bytes of GUID and one "received" byte per number), about 17 bytes each; the
links a message claims across a gap wait in a dict until the gap closes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.iplos_kpr import GUID_EMPTY, ParsedNotification
from kpr_gateway.simulator import codes

ChainKey = tuple[str, str]
"""(the sender's communication-party HER-id, kommuneNr)."""

GUID_BYTES: Final = 16
MAX_AHEAD: Final = 1_000_000
"""How far past the highest number received a message may start: the bytearrays grow to the
highest number, so a wild number from outside must not size them."""

_RECEIVED: Final = 1
_EMPTY_GUID: Final = GUID_EMPTY.bytes


@dataclass(frozen=True, slots=True)
class ChainLinks:
    """A message's notifications as the chain sees them: consecutive numbers from
    ``first_seq``, their GUIDs (16 bytes each, in order) and the first one's previous GUID."""

    first_seq: int
    previous: bytes
    guids: bytes

    @property
    def count(self) -> int:
        return len(self.guids) // GUID_BYTES

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    def guid(self, seq: int) -> bytes:
        start = (seq - self.first_seq) * GUID_BYTES
        return self.guids[start : start + GUID_BYTES]


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    errors: tuple[AppRecErrorCode, ...] = ()
    """Forks: the message is rejected and was not recorded."""
    waits_for: int | None = None
    """A gap: the number before the message, not received yet (the message was recorded)."""


def links_of(
    notifications: Sequence[ParsedNotification],
) -> ChainLinks | list[AppRecErrorCode] | None:
    """The message's links, or why they cannot be part of a chain (numbers that do not
    follow one another, a first notification that does not follow Guid.Empty); None for a
    message without notifications."""
    if not notifications:
        return None
    problems: list[str] = []
    first = notifications[0]
    if first.seq < 1:
        problems.append(f"seq {first.seq}: numbers start at 1")
    elif first.seq == 1 and first.previous != GUID_EMPTY:
        problems.append(
            "seq 1: notifikasjonForrigeGUID of the first notification is not Guid.Empty"
        )
    seen = {first.event_id}
    for before, item in itertools.pairwise(notifications):
        if item.seq != before.seq + 1:
            problems.append(f"seq {item.seq} follows seq {before.seq} in the message")
        elif item.previous != before.event_id:
            problems.append(
                f"seq {item.seq}: notifikasjonForrigeGUID is not the GUID of seq {before.seq}"
            )
        if item.event_id in seen:
            problems.append(f"seq {item.seq}: its notifikasjonGUID occurs twice in the message")
        seen.add(item.event_id)
    if problems:
        return codes.errors(codes.CHAIN_BROKEN, problems)
    return ChainLinks(
        first_seq=first.seq,
        previous=first.previous.bytes,
        guids=b"".join(n.event_id.bytes for n in notifications),
    )


class _Chain:
    """One chain: number -> GUID, compactly."""

    __slots__ = ("_claimed_previous", "_guids", "_received", "top")

    def __init__(self) -> None:
        self._guids = bytearray()
        self._received = bytearray()
        # seq -> the previous GUID a message starting at seq claimed while seq - 1 was missing.
        self._claimed_previous: dict[int, bytes] = {}
        self.top = 0

    def received(self, seq: int) -> bool:
        return 0 < seq < len(self._received) and self._received[seq] == _RECEIVED

    def guid(self, seq: int) -> bytes:
        return bytes(self._guids[seq * GUID_BYTES : (seq + 1) * GUID_BYTES])

    def forks(self, links: ChainLinks) -> list[str]:
        """What in ``links`` contradicts what was received (empty: nothing)."""
        problems: list[str] = []
        first, last = links.first_seq, links.last_seq
        window = self._received[first : last + 1]
        if _RECEIVED in window:
            problems.extend(self._reused(links, window))
        if first > 1 and self.received(first - 1) and self.guid(first - 1) != links.previous:
            problems.append(
                f"seq {first}: notifikasjonForrigeGUID is not the GUID received as seq {first - 1}"
            )
        if self._claimed_previous:
            for seq in range(first, last + 2):
                claimed = self._claimed_previous.get(seq)
                if claimed is None:
                    continue
                actual = links.previous if seq == first else links.guid(seq - 1)
                if claimed != actual:
                    problems.append(
                        f"seq {seq}: received with a notifikasjonForrigeGUID that is not"
                        f" the GUID of seq {seq - 1} in this message"
                    )
        return problems

    def _reused(self, links: ChainLinks, window: bytearray) -> list[str]:
        first = links.first_seq
        start, end = first * GUID_BYTES, first * GUID_BYTES + len(links.guids)
        if window.count(_RECEIVED) == links.count and self._guids[start:end] == links.guids:
            return []  # a resend of notifications received before
        problems = []
        for offset, flag in enumerate(window):
            seq = first + offset
            if flag == _RECEIVED and self.guid(seq) != links.guid(seq):
                problems.append(f"seq {seq}: received before with another notifikasjonGUID")
        return problems

    def record(self, links: ChainLinks) -> None:
        first, last = links.first_seq, links.last_seq
        self._grow(last)
        self._received[first : last + 1] = bytes([_RECEIVED]) * links.count
        self._guids[first * GUID_BYTES : (last + 1) * GUID_BYTES] = links.guids
        self.top = max(self.top, last)
        if self._claimed_previous:
            for seq in range(first + 1, last + 2):
                self._claimed_previous.pop(seq, None)
        if first > 1 and not self.received(first - 1):
            self._claimed_previous[first] = links.previous

    def first_missing_before(self, seq: int) -> int | None:
        """The start of the run of missing numbers that ends at ``seq - 1`` (None: no gap)."""
        if seq <= 1 or self.received(seq - 1):
            return None
        before = self._received.rfind(_RECEIVED, 0, min(seq - 1, len(self._received)))
        return max(before, 0) + 1

    def _grow(self, last: int) -> None:
        needed = last + 1 - len(self._received)
        if needed > 0:
            # A quarter more than needed: chains grow message by message.
            extra = needed + len(self._received) // 4
            self._received.extend(bytes(extra))
            self._guids.extend(bytes(extra * GUID_BYTES))


class ChainBook:
    """Every chain the simulator has seen. Used from the event loop only (no locking)."""

    def __init__(self, *, max_ahead: int = MAX_AHEAD) -> None:
        self._chains: dict[ChainKey, _Chain] = {}
        self._max_ahead = max_ahead

    def enter(self, key: ChainKey, links: ChainLinks) -> ChainVerdict:
        """Check ``links`` against the chain of ``key`` and record them unless they fork it."""
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = _Chain()
        if links.last_seq > chain.top + self._max_ahead:
            detail = (
                f"seq {links.first_seq}: more than {self._max_ahead} numbers past the highest"
                f" received, seq {chain.top}; not recorded"
            )
            return ChainVerdict(errors=(codes.error(codes.CHAIN_GAP, detail),))
        forks = chain.forks(links)
        if forks:
            return ChainVerdict(errors=tuple(codes.errors(codes.CHAIN_BROKEN, forks)))
        chain.record(links)
        first = links.first_seq
        return ChainVerdict(waits_for=first - 1 if chain.first_missing_before(first) else None)

    def received(self, key: ChainKey, seq: int) -> bool:
        chain = self._chains.get(key)
        return chain is not None and chain.received(seq)

    def first_missing_before(self, key: ChainKey, seq: int) -> int | None:
        """Where the gap before ``seq`` starts; None when ``seq - 1`` has been received."""
        chain = self._chains.get(key)
        if chain is None:
            return 1 if seq > 1 else None
        return chain.first_missing_before(seq)


def gap_error(first_seq: int, first_missing: int) -> AppRecErrorCode:
    """The rejection of a message whose gap did not close in time."""
    missing = (
        f"seq {first_missing}"
        if first_missing == first_seq - 1
        else f"seqs {first_missing} to {first_seq - 1}"
    )
    return codes.error(codes.CHAIN_GAP, f"seq {first_seq} follows a gap: {missing} not received")
