"""Chain scenarios (numbering, corrections, verify, resend) for real Redis and fakeredis."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from kpr_gateway.ledger import (
    BatchCommit,
    BatchMessage,
    ChainBrokenError,
    ChainCommit,
    ChainLink,
    EventState,
    Ledger,
    MessageState,
    NewEvent,
    OriginalInfo,
    ReceiptOutcome,
    ResendRefusedError,
)
from kpr_gateway.messages.iplos_kpr import GUID_EMPTY, ChainHead

TENANT = "bergen"
OSLO = "0301"
BERGEN = "4601"
MELDING = b"<Melding>" + b"<Notifikasjon/>" * 200 + b"</Melding>"


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def links_after(
    head: ChainHead, event_ids: Sequence[str], corrects: dict[str, str] | None = None
) -> list[ChainLink]:
    """Number ``event_ids`` after ``head`` as transform does (``corrects``: M -> original)."""
    links, previous = [], str(head.guid)
    for offset, event_id in enumerate(event_ids, start=1):
        original = (corrects or {}).get(event_id)
        links.append(
            ChainLink(event_id, head.seq + offset, previous, "M" if original else "N", original)
        )
        previous = event_id
    return links


async def register(ledger: Ledger, event_ids: Sequence[str]) -> None:
    await ledger.register_events(TENANT, [NewEvent(e, f"h-{e}") for e in event_ids], trace_id=None)


async def commit(
    ledger: Ledger,
    event_ids: Sequence[str],
    *,
    municipality: str = OSLO,
    expected: ChainHead | None = None,
    links: Sequence[ChainLink] | None = None,
    corrects: dict[str, str] | None = None,
    msg_id: str | None = None,
) -> BatchCommit:
    head = expected if expected is not None else await ledger.chain_head(TENANT, municipality)
    return await ledger.commit_batch(
        TENANT,
        batch_id=f"b-{uuid.uuid4().hex[:8]}",
        event_ids=event_ids,
        messages=[
            BatchMessage(msg_id or str(uuid.uuid4()), "KPR_IPL", b"<MsgHead/>", MELDING),
        ],
        trace_id=None,
        traceparent=None,
        chain=ChainCommit(
            municipality,
            head,
            links if links is not None else links_after(head, event_ids, corrects),
        ),
    )


def rejected() -> ReceiptOutcome:
    return ReceiptOutcome(
        kind="apprec", received_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC), status_code=2
    )


async def commit_numbers_the_events_in_their_municipality(ledger: Ledger) -> None:
    assert await ledger.chain_head(TENANT, OSLO) == ChainHead()
    assert await ledger.chain_municipalities(TENANT) == []
    first = new_ids(3)
    await register(ledger, first)
    assert await commit(ledger, first, msg_id="m-1") == BatchCommit(committed=True, refused={})
    assert await ledger.chain_head(TENANT, OSLO) == ChainHead(3, uuid.UUID(first[-1]))

    record = await ledger.get_event(TENANT, first[1])
    assert record is not None
    assert (record.seq, record.previous, record.corrects, record.municipality) == (
        2,
        first[0],
        None,
        OSLO,
    )
    start = await ledger.get_event(TENANT, first[0])
    assert start is not None
    assert start.previous == str(GUID_EMPTY)

    following = new_ids(2)
    await register(ledger, following)
    assert (await commit(ledger, following)).committed
    assert await ledger.chain_head(TENANT, OSLO) == ChainHead(5, uuid.UUID(following[-1]))

    elsewhere = new_ids(1)
    await register(ledger, elsewhere)
    assert (await commit(ledger, elsewhere, municipality=BERGEN)).committed
    assert await ledger.chain_head(TENANT, BERGEN) == ChainHead(1, uuid.UUID(elsewhere[0]))
    assert await ledger.chain_municipalities(TENANT) == [OSLO, BERGEN]
    assert await ledger.chain_municipalities("trondheim") == []

    # a commit without a chain numbers nothing (callers of the old contract)
    await register(ledger, ["plain"])
    plain = await ledger.commit_batch(
        TENANT,
        batch_id="b",
        event_ids=["plain"],
        messages=[BatchMessage("m-plain", "KPR_IPL", b"<x/>")],
        trace_id=None,
        traceparent=None,
    )
    assert plain.committed
    unnumbered = await ledger.get_event(TENANT, "plain")
    assert unnumbered is not None
    assert unnumbered.seq is None
    assert await ledger.kpr_document(TENANT, "m-plain") is None

    report = await ledger.verify_chain(TENANT, OSLO)
    assert (report.ok, report.length, report.head) == (
        True,
        5,
        ChainHead(5, uuid.UUID(following[-1])),
    )


async def kpr_document_outlives_the_built_state(ledger: Ledger) -> None:
    events = new_ids(1)
    await register(ledger, events)
    assert (await commit(ledger, events, msg_id="m-doc")).committed
    assert await ledger.kpr_document(TENANT, "m-doc") == MELDING
    assert await ledger.advance_message(TENANT, "m-doc", MessageState.ENVELOPED, trace_id=None)
    assert await ledger.unsent_messages(TENANT, events) == []  # the MsgHead document is gone
    assert await ledger.kpr_document(TENANT, "m-doc") == MELDING
    message = await ledger.get_message(TENANT, "m-doc")
    assert message is not None
    assert message.state is MessageState.ENVELOPED
    assert await ledger.kpr_document(TENANT, "unknown") is None


async def a_moved_chain_refuses_the_commit_and_changes_nothing(ledger: Ledger) -> None:
    mine, theirs = new_ids(1), new_ids(2)
    await register(ledger, mine + theirs)
    read_by_both = await ledger.chain_head(TENANT, OSLO)
    assert (await commit(ledger, theirs, expected=read_by_both)).committed

    late = await commit(ledger, mine, expected=read_by_both, msg_id="m-late")
    assert late == BatchCommit(
        committed=False, refused={}, chain_moved=ChainHead(2, uuid.UUID(theirs[-1]))
    )
    untouched = await ledger.get_event(TENANT, mine[0])
    assert untouched is not None
    assert (untouched.state, untouched.seq, untouched.msg_ids) == (EventState.RECEIVED, None, [])
    assert await ledger.get_message(TENANT, "m-late") is None
    assert await ledger.tenant_of_message("m-late") is None
    assert (await ledger.verify_chain(TENANT, OSLO)).length == 2

    # refused events and a moved chain are reported together, so one rebuild settles both
    both = await commit(ledger, [*mine, theirs[0]], expected=read_by_both)
    assert both.refused == {theirs[0]: "batched"}
    assert both.chain_moved == ChainHead(2, uuid.UUID(theirs[-1]))

    assert late.chain_moved is not None
    assert (await commit(ledger, mine, expected=late.chain_moved)).committed
    numbered = await ledger.get_event(TENANT, mine[0])
    assert numbered is not None
    assert (numbered.seq, numbered.previous) == (3, theirs[-1])
    assert (await ledger.verify_chain(TENANT, OSLO)).ok


async def gaps_and_forks_are_refused(ledger: Ledger) -> None:
    events = new_ids(3)
    await register(ledger, events)
    start = ChainHead()
    gap = links_after(ChainHead(1, GUID_EMPTY), events[:2])  # starts at seq 2
    with pytest.raises(ChainBrokenError, match="has seq 2, the chain continues at seq 1"):
        await commit(ledger, events[:2], expected=start, links=gap)
    fork = [ChainLink(e, i, str(GUID_EMPTY), "N", None) for i, e in enumerate(events[:2], 1)]
    with pytest.raises(ChainBrokenError, match=f"names {GUID_EMPTY} before it"):
        await commit(ledger, events[:2], expected=start, links=fork)
    repeat = links_after(start, events[:1]) * 2
    with pytest.raises(ChainBrokenError, match="not the batch's events"):
        await commit(ledger, events[:1], expected=start, links=repeat)

    assert (await commit(ledger, events[:2])).committed
    head = await ledger.chain_head(TENANT, OSLO)
    # a fork off the middle of the chain: after seq 2, but pointing at seq 1's event
    off_the_middle = [ChainLink(events[2], 3, events[0], "N", None)]
    with pytest.raises(ChainBrokenError, match=f"names {events[0]} before it"):
        await commit(ledger, events[2:], expected=head, links=off_the_middle)
    untouched = await ledger.get_event(TENANT, events[2])
    assert untouched is not None
    assert (untouched.state, untouched.seq) == (EventState.RECEIVED, None)
    assert await ledger.chain_head(TENANT, OSLO) == head

    malformed = {
        "lower-case UUIDs": ChainLink(events[2].upper(), 3, events[1], "N", None),
        "must name its original": ChainLink(events[2], 3, events[1], "C", None),
        "corrects nothing": ChainLink(events[2], 3, events[1], "N", events[0]),
        "is not N, M or C": ChainLink(events[2], 3, events[1], "T", events[0]),
    }
    for problem, link in malformed.items():
        with pytest.raises(ChainBrokenError, match=problem):
            await commit(ledger, [link.event_id], expected=head, links=[link])
    assert (await ledger.verify_chain(TENANT, OSLO)).ok


async def a_correction_is_numbered_after_its_original(ledger: Ledger) -> None:
    original, correction = new_ids(2)
    await register(ledger, [original, correction])
    assert await ledger.originals(TENANT, [original, "unknown"]) == {
        original: OriginalInfo(EventState.RECEIVED, None, None),
        "unknown": OriginalInfo(None, None, None),
    }
    early = await commit(ledger, [correction], corrects={correction: original})
    assert early == BatchCommit(committed=False, refused={correction: "original_not_sent"})
    waiting = await ledger.get_event(TENANT, correction)
    assert waiting is not None
    assert (waiting.state, waiting.seq) == (EventState.RECEIVED, None)
    assert await ledger.chain_head(TENANT, OSLO) == ChainHead()

    assert (await commit(ledger, [original])).committed
    assert await ledger.originals(TENANT, [original]) == {
        original: OriginalInfo(EventState.BATCHED, "N", 1)
    }
    assert (await commit(ledger, [correction], corrects={correction: original})).committed
    numbered = await ledger.get_event(TENANT, correction)
    assert numbered is not None
    assert (numbered.seq, numbered.previous, numbered.corrects) == (2, original, original)
    assert (await ledger.originals(TENANT, [correction]))[correction].status == "M"

    # within one commit the original must come first
    original2, correction2 = new_ids(2)
    await register(ledger, [original2, correction2])
    wrong_order = await commit(ledger, [correction2, original2], corrects={correction2: original2})
    assert wrong_order.refused == {correction2: "original_not_sent"}
    right_order = await commit(ledger, [original2, correction2], corrects={correction2: original2})
    assert right_order.committed
    assert (await ledger.verify_chain(TENANT, OSLO)).length == 4


async def verify_reports_the_first_damage(ledger: Ledger) -> None:
    empty = await ledger.verify_chain(TENANT, OSLO)
    assert (empty.ok, empty.length, empty.head, empty.problem) == (True, 0, ChainHead(), None)

    events = new_ids(5)
    await register(ledger, events)
    assert (await commit(ledger, events[:2])).committed
    assert (await commit(ledger, events[2:])).committed
    for page in (1, 2, 1000):
        report = await ledger.verify_chain(TENANT, OSLO, page=page)
        assert (report.ok, report.length, report.problem_seq) == (True, 5, None)

    redis, keys = ledger.redis, ledger.keys
    third = keys.event(TENANT, events[2])
    await redis.hset(third, "prev", events[0])
    forked = await ledger.verify_chain(TENANT, OSLO, page=2)
    assert (forked.ok, forked.problem_seq) == (False, 3)
    assert forked.problem == (
        f"seq 3: event {events[2]} names {events[0]} before it, the log has {events[1]}"
    )
    await redis.hset(third, "prev", events[1])
    await redis.hset(keys.event(TENANT, events[3]), "seq", "9")
    renumbered = await ledger.verify_chain(TENANT, OSLO)
    assert (renumbered.problem_seq, renumbered.problem) == (
        4,
        f"seq 4: event {events[3]} has seq 9",
    )
    await redis.hset(keys.event(TENANT, events[3]), "seq", "4")
    assert (await ledger.verify_chain(TENANT, OSLO)).ok

    head_key = keys.chain_head(TENANT, OSLO)
    await redis.hset(head_key, mapping={"seq": "4", "guid": events[3]})
    behind = await ledger.verify_chain(TENANT, OSLO)
    assert (behind.ok, behind.head, behind.problem_seq) == (
        False,
        ChainHead(4, uuid.UUID(events[3])),
        4,
    )
    assert behind.problem == (
        f"the head is seq 4 ({events[3]}) but the log ends at seq 5 ({events[4]})"
    )
    await redis.hset(head_key, mapping={"seq": "5", "guid": events[4]})

    await redis.delete(keys.event(TENANT, events[1]))
    lost = await ledger.verify_chain(TENANT, OSLO)
    assert (lost.problem_seq, lost.problem) == (
        2,
        f"seq 2: event {events[1]} is not in the ledger (lost or expired)",
    )


async def a_resend_keeps_the_numbers_and_waits_for_an_outcome(ledger: Ledger) -> None:
    events = new_ids(2)
    await register(ledger, events)
    assert (await commit(ledger, events, msg_id="m-1")).committed
    head = await ledger.chain_head(TENANT, OSLO)

    async def resend(old: str, new: str) -> None:
        await ledger.resend_message(
            TENANT, old, new_msg_id=new, document=b"<MsgHead2/>", trace_id="t", traceparent=None
        )

    for state in (None, MessageState.ENVELOPED, MessageState.DISPATCHED):
        if state is not None:
            await ledger.advance_message(TENANT, "m-1", state, trace_id=None)
        with pytest.raises(ResendRefusedError, match="still in flight"):
            await resend("m-1", "m-2")
    assert await ledger.get_message(TENANT, "m-2") is None
    with pytest.raises(ResendRefusedError, match="no KPR message nope"):
        await resend("nope", "m-2")

    assert await ledger.mark_overdue(TENANT, older_than=timedelta(0)) == ["m-1"]
    assert await ledger.overdue_count(TENANT) == 1
    await resend("m-1", "m-2")
    await resend("m-1", "m-2")  # a retried call changes nothing
    assert await ledger.overdue_count(TENANT) == 0

    again = await ledger.get_message(TENANT, "m-2")
    old = await ledger.get_message(TENANT, "m-1")
    assert again is not None
    assert old is not None
    assert (again.state, again.resend_of, again.event_ids, again.batch_id) == (
        MessageState.BUILT,
        "m-1",
        events,
        old.batch_id,
    )
    assert [t.state for t in again.history] == ["built"]
    assert [t.state for t in old.history][-1:] == ["resent"]
    assert old.history[-1].detail == {"resent_as": "m-2"}
    assert old.state is MessageState.OVERDUE
    assert await ledger.kpr_document(TENANT, "m-2") == MELDING
    assert await ledger.tenant_of_message("m-2") == TENANT
    [unsent] = await ledger.unsent_messages(TENANT, events)
    assert (unsent.msg_id, unsent.document) == ("m-2", b"<MsgHead2/>")

    for position, event_id in enumerate(events, start=1):
        record = await ledger.get_event(TENANT, event_id)
        assert record is not None
        assert (record.msg_ids, record.seq) == (["m-1", "m-2"], position)
        # the resend carries the event now: the old message's outcome is superseded
        assert record.status == "built"
    assert await ledger.chain_head(TENANT, OSLO) == head
    assert (await ledger.verify_chain(TENANT, OSLO)).length == 2

    # the resend's own outcome is what the events show; once closed it can go again
    await ledger.record_receipt(TENANT, "m-2", rejected(), trace_id=None)
    shown = await ledger.get_event(TENANT, events[0])
    assert shown is not None
    assert shown.status == "rejected"
    with pytest.raises(ResendRefusedError, match="m-1 is taken"):
        await resend("m-2", "m-1")
    await resend("m-2", "m-3")
    final = await ledger.get_event(TENANT, events[0])
    assert final is not None
    assert (final.msg_ids, final.status) == (["m-1", "m-2", "m-3"], "built")


SCENARIOS = [
    commit_numbers_the_events_in_their_municipality,
    kpr_document_outlives_the_built_state,
    a_moved_chain_refuses_the_commit_and_changes_nothing,
    gaps_and_forks_are_refused,
    a_correction_is_numbered_after_its_original,
    verify_reports_the_first_damage,
    a_resend_keeps_the_numbers_and_waits_for_an_outcome,
]
