"""Property: whatever the interleaving of competing builders, crashes, corrections and
resends, each municipality's chain holds every committed event exactly once, in commit
order, without gap or fork, and every correction comes after its original."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fakeredis import FakeAsyncRedis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kpr_gateway.ledger import (
    BatchMessage,
    ChainCommit,
    ChainLink,
    Ledger,
    MessageState,
    NewEvent,
    ReceiptOutcome,
    ResendRefusedError,
)
from kpr_gateway.messages.iplos_kpr import ChainHead

TENANT = "bergen"
MUNICIPALITIES = ("0301", "4601")
BUILDERS = 2
IN_FLIGHT = {MessageState.BUILT, MessageState.ENVELOPED, MessageState.DISPATCHED}
APPREC_CODES = {
    MessageState.ACKNOWLEDGED: 1,
    MessageState.REJECTED: 2,
    MessageState.ACKNOWLEDGED_WITH_ERRORS: 3,
}
RECEIVED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Operation:
    kind: str
    who: int
    """The builder (step, crash) or the municipality (new, correct)."""
    where: int
    """The municipality a builder takes events from."""
    pick: int
    """Which original, message or queue position."""
    count: int
    state: MessageState
    status: str


# Weighted: a builder's step takes events, reads the head or commits, whichever comes next
# for it, so many steps of two builders interleave reads and commits in every order.
KINDS = ["new"] * 3 + ["correct"] * 2 + ["step"] * 8 + ["crash", "advance", "advance", "resend"]
operations = st.lists(
    st.builds(
        Operation,
        kind=st.sampled_from(KINDS),
        who=st.integers(0, BUILDERS - 1),
        where=st.integers(0, len(MUNICIPALITIES) - 1),
        pick=st.integers(0, 50),
        count=st.integers(1, 4),
        state=st.sampled_from(sorted(MessageState)),
        status=st.sampled_from("MC"),
    ),
    min_size=30,
    max_size=150,
)


@dataclass
class Builder:
    """A transform replica: takes events, reads the head, numbers, commits (retrying on a move)."""

    municipality: str = ""
    pending: list[str] = field(default_factory=list)
    head: ChainHead | None = None


@dataclass
class Model:
    queue: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MUNICIPALITIES})
    originals: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MUNICIPALITIES})
    corrects: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Correction -> (its status, its original)."""
    committed: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MUNICIPALITIES})
    messages: list[str] = field(default_factory=list)
    builders: list[Builder] = field(default_factory=lambda: [Builder() for _ in range(BUILDERS)])


def numbered(
    head: ChainHead, event_ids: list[str], corrects: dict[str, tuple[str, str]]
) -> list[ChainLink]:
    links, previous = [], str(head.guid)
    for offset, event_id in enumerate(event_ids, start=1):
        status, original = corrects.get(event_id, ("N", None))
        links.append(ChainLink(event_id, head.seq + offset, previous, status, original))
        previous = event_id
    return links


async def commit(ledger: Ledger, model: Model, worker: Builder) -> None:
    assert worker.head is not None
    links = numbered(worker.head, worker.pending, model.corrects)
    msg_id = str(uuid.uuid4())
    outcome = await ledger.commit_batch(
        TENANT,
        batch_id=msg_id,
        event_ids=worker.pending,
        messages=[BatchMessage(msg_id, "KPR_IPL", b"<MsgHead/>", b"<Melding/>")],
        trace_id=None,
        traceparent=None,
        chain=ChainCommit(worker.municipality, worker.head, links),
    )
    if outcome.committed:
        assert outcome.chain_moved is None
        model.committed[worker.municipality] += worker.pending
        queue = model.queue[worker.municipality]
        model.queue[worker.municipality] = [e for e in queue if e not in worker.pending]
        model.messages.append(msg_id)
        worker.pending, worker.head = [], None
        return
    # events batched by the other builder, or corrections ahead of their original: dropped
    # (they stay queued until committed), and the rest numbered again after the moved head
    assert outcome.refused or outcome.chain_moved
    for state in outcome.refused.values():
        assert state in {"batched", "original_not_sent"}
        event(f"refused {state}")
    if outcome.chain_moved is not None:
        event("chain moved")
    worker.pending = [e for e in worker.pending if e not in outcome.refused]
    if outcome.chain_moved is not None:
        worker.head = outcome.chain_moved


async def apply(ledger: Ledger, model: Model, operation: Operation) -> None:
    kind = operation.kind
    if kind == "new":
        where = MUNICIPALITIES[operation.who]
        ids = [str(uuid.uuid4()) for _ in range(operation.count)]
        await ledger.register_events(TENANT, [NewEvent(e, "h") for e in ids], trace_id=None)
        model.queue[where] += ids
        model.originals[where] += ids
    elif kind == "correct":
        where = MUNICIPALITIES[operation.who]
        if model.originals[where]:
            correction = str(uuid.uuid4())
            originals = model.originals[where]
            model.corrects[correction] = (
                operation.status,
                originals[operation.pick % len(originals)],
            )
            await ledger.register_events(TENANT, [NewEvent(correction, "h")], trace_id=None)
            model.queue[where].append(correction)
    elif kind == "step":
        await step(ledger, model, model.builders[operation.who], operation)
    elif kind == "crash":
        model.builders[operation.who] = Builder()
    elif kind == "advance" and model.messages:
        msg_id = model.messages[operation.pick % len(model.messages)]
        await advance(ledger, msg_id, operation.state)
    elif kind == "resend" and model.messages:
        await resend(ledger, model, model.messages[operation.pick % len(model.messages)])


async def step(ledger: Ledger, model: Model, worker: Builder, operation: Operation) -> None:
    if not worker.pending:
        # overlapping chunks (a redelivery) may hold events the other builder has taken
        where = MUNICIPALITIES[operation.where]
        queue = model.queue[where]
        skip = operation.pick % max(min(len(queue), 3), 1)  # near the front: they overlap
        worker.municipality, worker.head = where, None
        worker.pending = queue[skip : skip + operation.count]
    elif worker.head is None:
        worker.head = await ledger.chain_head(TENANT, worker.municipality)
    else:
        await commit(ledger, model, worker)


async def advance(ledger: Ledger, msg_id: str, state: MessageState) -> None:
    if state in APPREC_CODES:
        receipt = ReceiptOutcome(
            kind="apprec", received_at=RECEIVED_AT, status_code=APPREC_CODES[state]
        )
        await ledger.record_receipt(TENANT, msg_id, receipt, trace_id=None)
    elif state is MessageState.TRANSPORT_ERROR:
        receipt = ReceiptOutcome(kind="transport_error", received_at=RECEIVED_AT)
        await ledger.record_receipt(TENANT, msg_id, receipt, trace_id=None)
    elif state is not MessageState.BUILT:
        await ledger.advance_message(TENANT, msg_id, state, trace_id=None)


async def resend(ledger: Ledger, model: Model, msg_id: str) -> None:
    message = await ledger.get_message(TENANT, msg_id)
    assert message is not None
    before = [await ledger.get_event(TENANT, e) for e in message.event_ids]
    heads = [await ledger.chain_head(TENANT, m) for m in MUNICIPALITIES]
    new_msg_id = str(uuid.uuid4())
    try:
        await ledger.resend_message(
            TENANT, msg_id, new_msg_id=new_msg_id, document=b"<x/>", trace_id=None, traceparent=None
        )
    except ResendRefusedError:
        assert message.state in IN_FLIGHT
        event("resend refused")
        return
    event("resent")
    assert message.state not in IN_FLIGHT
    model.messages.append(new_msg_id)
    after = [await ledger.get_event(TENANT, e) for e in message.event_ids]
    assert [e.seq if e else None for e in after] == [e.seq if e else None for e in before]
    assert [await ledger.chain_head(TENANT, m) for m in MUNICIPALITIES] == heads
    assert not await ledger.redis.zscore(ledger.keys.overdue(TENANT), msg_id)


async def drain(ledger: Ledger, model: Model) -> None:
    """The queue's remainder in one last commit per municipality: originals precede
    their corrections in the queue, so everything goes."""
    for where in MUNICIPALITIES:
        if model.queue[where]:
            worker = Builder(
                where, list(model.queue[where]), await ledger.chain_head(TENANT, where)
            )
            await commit(ledger, model, worker)
            assert not model.queue[where]


async def check(ledger: Ledger, model: Model) -> None:
    seq_of: dict[str, tuple[str, int]] = {}
    for where in MUNICIPALITIES:
        report = await ledger.verify_chain(TENANT, where, page=3)
        assert report.ok, report.problem
        stored = await ledger.redis.lrange(ledger.keys.chain_log(TENANT, where), 0, -1)
        log = [e.decode() if isinstance(e, bytes) else e for e in stored]
        assert log == model.committed[where]
        assert report.length == len(log)
        seq_of |= {event_id: (where, seq) for seq, event_id in enumerate(log, start=1)}
    every = [e for where in MUNICIPALITIES for e in model.committed[where]]
    assert len(every) == len(set(every))
    registered = {e for where in MUNICIPALITIES for e in model.originals[where]} | set(
        model.corrects
    )
    assert set(every) == registered
    for correction, (status, original) in model.corrects.items():
        assert seq_of[correction][0] == seq_of[original][0]
        assert seq_of[correction][1] > seq_of[original][1]
        record = await ledger.get_event(TENANT, correction)
        assert record is not None
        assert (record.corrects, record.seq) == (original, seq_of[correction][1])
        info = await ledger.originals(TENANT, [correction])
        assert info[correction].status == status


async def run(operations_: list[Operation]) -> None:
    redis = FakeAsyncRedis()
    ledger = Ledger(redis)
    model = Model()
    for operation in operations_:
        await apply(ledger, model, operation)
    await drain(ledger, model)
    await check(ledger, model)
    await redis.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_chains_stay_whole_under_competing_builders(operations_: list[Operation]) -> None:
    asyncio.run(run(operations_))
