"""Corrections (M, C) against the ledger: what becomes of a correction, by its original.

The specification: a correction names the original (N) notification it replaces or cancels,
and that reference always points at an N. The gateway also keeps the chain's order: a
correction of an original that has not been numbered yet waits for it (the ledger's commit
refuses it until then), so it is never sent before its original.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from kpr_gateway.ledger import EventState, OriginalInfo, RejectionReason
from kpr_gateway.messages.iplos_kpr import Notification, NotificationStatus

RULE_UNKNOWN_ORIGINAL = "correction-unknown-original"
RULE_NOT_AN_ORIGINAL = "correction-of-correction"
RULE_ORIGINAL_NOT_SENT = "correction-original-not-sent"


@dataclass(frozen=True, slots=True)
class CorrectionVerdict:
    """``state`` None: batch it (its original is numbered, or will be before it)."""

    state: EventState | None
    reasons: tuple[RejectionReason, ...] = ()


def originals_to_look_up(events: Iterable[Notification]) -> list[str]:
    return sorted({str(e.corrects) for e in events if e.corrects is not None})


def judge(
    event: Notification,
    originals: Mapping[str, OriginalInfo],
    earlier_in_chunk: Mapping[UUID, tuple[Notification, EventState | None]],
) -> CorrectionVerdict:
    """What the correction ``event`` becomes, given its original's record in the ledger and
    the notifications that came before it in the same chunk with what became of them (None:
    batched). None: batch it."""
    if event.corrects is None:
        return CorrectionVerdict(None)  # an original: nothing to judge here
    in_chunk = earlier_in_chunk.get(event.corrects)
    if in_chunk is not None:
        earlier, settled_as = in_chunk
        status: str | None = earlier.status.value
        state: EventState | None = settled_as or EventState.RECEIVED
    else:
        original = originals.get(str(event.corrects))
        status = original.status if original is not None else None
        state = original.state if original is not None else None
    if state is None:
        return _refused(
            RULE_UNKNOWN_ORIGINAL,
            "corrects names no notification of this municipality known to the gateway",
        )
    if status is not None and status != NotificationStatus.ORIGINAL.value:
        return _refused(RULE_NOT_AN_ORIGINAL, _NOT_AN_ORIGINAL)
    return _follow_original(state)


def _follow_original(state: EventState) -> CorrectionVerdict:
    if state in (EventState.SUPPRESSED_TEST_PERSON, EventState.NOT_REPORTABLE):
        # What was never sent is not corrected at KPR either: the correction follows it.
        reason = RejectionReason(
            rule=RULE_ORIGINAL_NOT_SENT,
            field="corrects",
            reason=f"the original is {state.value}, so is its correction",
        )
        return CorrectionVerdict(state, (reason,))
    if state is EventState.REJECTED_INVALID:
        return _refused(
            RULE_ORIGINAL_NOT_SENT,
            "the original was rejected and never sent: send a new original (N) instead",
        )
    return CorrectionVerdict(None)


def in_chain_order(items: Sequence[Notification]) -> list[int]:
    """Positions of ``items`` reordered so that a correction comes after its original when
    both are in ``items`` (otherwise arrival order is kept)."""
    position = {item.event_id: index for index, item in enumerate(items)}
    emitted: set[UUID] = set()
    waiting: dict[UUID, list[int]] = {}
    order: list[int] = []
    # A loop with a stack, not a recursive inner function: such a function refers to itself
    # through its closure, a cycle that kept every notification of the batch alive until
    # the collector's next full pass.
    for index, item in enumerate(items):
        original = item.corrects
        if original is not None and original not in emitted and position.get(original, -1) > index:
            waiting.setdefault(original, []).append(index)
            continue
        stack = [index]
        while stack:
            current = stack.pop()
            order.append(current)
            event_id = items[current].event_id
            emitted.add(event_id)
            # reversed: the followers come out in the order they arrived
            stack.extend(reversed(waiting.pop(event_id, [])))
    return order


_NOT_AN_ORIGINAL = "corrects must name an original (N) notification, not a correction"


def _refused(rule: str, reason: str) -> CorrectionVerdict:
    return CorrectionVerdict(
        EventState.REJECTED_INVALID, (RejectionReason(rule=rule, field="corrects", reason=reason),)
    )
