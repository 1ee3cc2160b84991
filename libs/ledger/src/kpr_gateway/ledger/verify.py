"""Walks a municipality's chain and reports its first gap or fork.

The log (event ids, index = seq - 1) and each event's own ``seq`` and ``prev`` are written in
the same atomic step, so any disagreement between them, or with the head, is damage: a lost
write, a partial restore, a hand edit. The walk reads a page of the log per round trip and
checks its events in one read-only script call, so memory stays flat however long the chain
is and a million links take a few hundred round trips.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from kpr_gateway.ledger.chain import GUID_EMPTY_TEXT, ChainReport, head_of
from kpr_gateway.ledger.keys import KeySpace
from kpr_gateway.ledger.replies import text
from kpr_gateway.messages.iplos_kpr import ChainHead


async def walk_chain(
    redis: Redis,
    keys: KeySpace,
    verify_links: AsyncScript,
    tenant_id: str,
    municipality: str,
    *,
    page: int,
) -> ChainReport:
    """Raises RedisError (the ledger translates it)."""
    if page < 1:
        raise ValueError("page must be at least 1")
    head_key = keys.chain_head(tenant_id, municipality)
    log_key = keys.chain_log(tenant_id, municipality)
    # One snapshot of head and length: commits append atomically, so the first ``length``
    # entries and their events' seq/prev no longer change while the walk reads them.
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(head_key, ["seq", "guid"])
        pipe.llen(log_key)
        (stored_seq, stored_guid), length = await pipe.execute()
    try:
        head = head_of(stored_seq, stored_guid)
    except ValueError:
        return _failed(municipality, length, ChainHead(), "the head is not a seq and a UUID", None)

    previous = GUID_EMPTY_TEXT
    ids = [text(i) for i in await redis.lrange(log_key, 0, min(page, length) - 1)] if length else []
    start = 0
    while ids:
        # this page's check and the next page's ids in one round trip
        following = start + page
        async with redis.pipeline(transaction=False) as pipe:
            await verify_links(
                keys=[keys.event(tenant_id, event_id) for event_id in ids],
                args=[start + 1, previous, len(keys.event(tenant_id, ""))],
                client=pipe,
            )
            if following < length:
                pipe.lrange(log_key, following, min(following + page, length) - 1)
            replies: list[Any] = await pipe.execute()
        if replies[0]:
            position, *stored = replies[0]
            offset = int(position) - 1
            before = ids[offset - 1] if offset else previous
            problem = _link_problem(start + offset + 1, ids[offset], stored, before)
            return _failed(municipality, length, head, problem, start + offset + 1)
        previous = ids[-1]
        ids = [text(i) for i in replies[1]] if following < length else []
        start = following
    if head.seq != length or str(head.guid) != previous:
        problem = (
            f"the head is seq {head.seq} ({head.guid}) but the log ends at seq {length}"
            f" ({previous})"
        )
        return _failed(municipality, length, head, problem, head.seq)
    return ChainReport(municipality, length, head, ok=True, problem=None, problem_seq=None)


def _link_problem(seq: int, event_id: str, stored: list[bytes], previous: str) -> str:
    state, stored_seq, prev = (text(value) for value in stored)
    if not state:
        return f"seq {seq}: event {event_id} is not in the ledger (lost or expired)"
    if stored_seq != str(seq):
        return f"seq {seq}: event {event_id} has {f'seq {stored_seq}' if stored_seq else 'no seq'}"
    return (
        f"seq {seq}: event {event_id} names {prev or 'no previous'} before it,"
        f" the log has {previous}"
    )


def _failed(
    municipality: str, length: int, head: ChainHead, problem: str, seq: int | None
) -> ChainReport:
    return ChainReport(municipality, length, head, ok=False, problem=problem, problem_seq=seq)
