"""The chain on real Redis: truly concurrent builders, and a long chain verified in flat memory."""

from __future__ import annotations

import asyncio
import random
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import (
    BatchMessage,
    ChainCommit,
    ChainLink,
    KeySpace,
    Ledger,
    NewEvent,
)
from kpr_gateway.messages.iplos_kpr import GUID_EMPTY, ChainHead

TENANT = "bergen"
OSLO = "0301"


@pytest.fixture
async def ledger() -> AsyncIterator[Ledger]:
    client = Redis(host="127.0.0.1", port=6379)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    yield Ledger(client, keys=KeySpace(prefix))
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=10_000)]
    for start in range(0, len(keys), 10_000):
        await client.delete(*keys[start : start + 10_000])
    await client.aclose()


async def test_competing_builders_leave_one_whole_chain(ledger: Ledger) -> None:
    events = [str(uuid.uuid4()) for _ in range(300)]
    await ledger.register_events(TENANT, [NewEvent(e, "h") for e in events], trace_id=None)
    queue = list(events)
    committed: list[str] = []
    moves = 0
    rng = random.Random(7)

    async def builder() -> None:
        nonlocal moves
        while queue:
            # overlapping chunks: a redelivered chunk may hold events another builder has
            taken = queue[: rng.randint(1, 8)]
            head = await ledger.chain_head(TENANT, OSLO)
            while taken:
                await asyncio.sleep(rng.random() / 1000)
                links, previous = [], str(head.guid)
                for seq, event_id in enumerate(taken, start=head.seq + 1):
                    links.append(ChainLink(event_id, seq, previous, "N", None))
                    previous = event_id
                msg_id = str(uuid.uuid4())
                outcome = await ledger.commit_batch(
                    TENANT,
                    batch_id=msg_id,
                    event_ids=taken,
                    messages=[BatchMessage(msg_id, "KPR_IPL", b"<MsgHead/>")],
                    trace_id=None,
                    traceparent=None,
                    chain=ChainCommit(OSLO, head, links),
                )
                if outcome.committed:
                    committed.extend(taken)
                    for event_id in taken:
                        queue.remove(event_id)
                    break
                taken = [e for e in taken if e not in outcome.refused]
                if outcome.chain_moved is not None:
                    moves += 1
                    head = outcome.chain_moved

    await asyncio.gather(*(builder() for _ in range(4)))
    assert moves > 0  # the builders did compete
    report = await ledger.verify_chain(TENANT, OSLO, page=64)
    assert (report.ok, report.length, report.problem) == (True, 300, None)
    log = await ledger.redis.lrange(ledger.keys.chain_log(TENANT, OSLO), 0, -1)
    assert [e.decode() if isinstance(e, bytes) else e for e in log] == committed
    assert sorted(committed) == sorted(events)
    assert report.head == ChainHead(300, uuid.UUID(committed[-1]))


async def write_chain(ledger: Ledger, length: int) -> None:
    """A chain as commits leave it, written directly: committing this many takes minutes."""
    keys, previous = ledger.keys, str(GUID_EMPTY)
    for start in range(0, length, 5_000):
        async with ledger.redis.pipeline(transaction=False) as pipe:
            ids = [str(uuid.uuid4()) for _ in range(min(5_000, length - start))]
            for seq, event_id in enumerate(ids, start=start + 1):
                pipe.hset(
                    keys.event(TENANT, event_id),
                    mapping={"state": "batched", "seq": seq, "prev": previous},
                )
                previous = event_id
            pipe.rpush(keys.chain_log(TENANT, OSLO), *ids)
            await pipe.execute()
    await ledger.redis.hset(
        keys.chain_head(TENANT, OSLO), mapping={"seq": length, "guid": previous}
    )


async def verify_peak(ledger: Ledger) -> int:
    tracemalloc.start()
    try:
        report = await ledger.verify_chain(TENANT, OSLO, page=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.problem
    return peak


async def test_verify_memory_does_not_grow_with_the_chain(ledger: Ledger) -> None:
    await write_chain(ledger, 2_500)
    short = await verify_peak(ledger)
    await ledger.redis.delete(ledger.keys.chain_log(TENANT, OSLO))
    await write_chain(ledger, 50_000)
    long = await verify_peak(ledger)
    # twenty times the links, about the same peak: one page at a time
    assert long < short * 1.5, (short, long)
    assert (await ledger.verify_chain(TENANT, OSLO)).length == 50_000
