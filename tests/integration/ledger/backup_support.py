"""A ledger with something in it, written through the Ledger API, and what it reads back as:
for the backup, restore and older-ledger tests (ledger, runtime guard, CLI)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from kpr_gateway.ledger import (
    BatchMessage,
    ChainCommit,
    ChainLink,
    KeySpace,
    Ledger,
    MessageState,
    NewEvent,
    ReceiptOutcome,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
TENANT = "bergen"
MUNICIPALITIES = ("4601", "0301")


@dataclass(frozen=True, slots=True)
class Written:
    event_ids: list[str]
    msg_ids: list[str]


async def fill(ledger: Ledger, *, batches: int = 3, size: int = 4) -> Written:
    """Events numbered in two municipalities' chains, their messages moved on (one
    acknowledged, one resent), and events still waiting: what a working day leaves."""
    events: list[str] = []
    messages: list[str] = []
    for municipality in MUNICIPALITIES:
        for _ in range(batches):
            ids = [str(uuid.uuid4()) for _ in range(size)]
            await ledger.register_events(
                TENANT, [NewEvent(e, f"hash-{e}") for e in ids], trace_id=None
            )
            await ledger.mark_accepted(TENANT, ids)
            head = await ledger.chain_head(TENANT, municipality)
            links, previous = [], str(head.guid)
            for seq, event_id in enumerate(ids, start=head.seq + 1):
                links.append(ChainLink(event_id, seq, previous, "N", None))
                previous = event_id
            msg_id = str(uuid.uuid4())
            committed = await ledger.commit_batch(
                TENANT,
                batch_id=msg_id,
                event_ids=ids,
                messages=[
                    BatchMessage(msg_id, "KPR_IPL", b"<MsgHead/>", kpr_document=b"<Melding/>")
                ],
                trace_id=None,
                traceparent=None,
                chain=ChainCommit(municipality, head, links),
            )
            assert committed.committed
            events += ids
            messages.append(msg_id)
    first, second = messages[0], messages[1]
    for msg_id in (first, second):
        await ledger.advance_message(TENANT, msg_id, MessageState.ENVELOPED, trace_id=None)
        await ledger.note_send_attempt(
            TENANT, msg_id, transport_message_id=f"amqp-{msg_id}", trace_id=None
        )
        await ledger.advance_message(TENANT, msg_id, MessageState.DISPATCHED, trace_id=None)
    outcome = ReceiptOutcome(
        kind="apprec", received_at=datetime.now(UTC), status_code=1, status_text="OK"
    )
    await ledger.record_receipt(TENANT, first, outcome, trace_id=None)
    await ledger.advance_message(TENANT, second, MessageState.OVERDUE, trace_id=None)
    resent = str(uuid.uuid4())
    await ledger.resend_message(
        TENANT, second, new_msg_id=resent, document=b"<MsgHead/>", trace_id=None, traceparent=None
    )
    waiting = [str(uuid.uuid4()) for _ in range(3)]
    await ledger.register_events(TENANT, [NewEvent(e, "h") for e in waiting], trace_id=None)
    return Written(event_ids=events + waiting, msg_ids=[*messages, resent])


async def reads(ledger: Ledger, written: Written) -> dict[str, Any]:
    """Everything the ledger answers about what ``fill`` wrote, comparable with ``==``."""
    chains = {}
    for municipality in await ledger.chain_municipalities(TENANT):
        report = await ledger.verify_chain(TENANT, municipality, page=5)
        chains[municipality] = (report.ok, report.length, report.head, report.problem)
    return {
        "events": [await ledger.get_event(TENANT, e) for e in written.event_ids],
        "messages": [await ledger.get_message(TENANT, m) for m in written.msg_ids],
        "documents": [await ledger.kpr_document(TENANT, m) for m in written.msg_ids],
        "index": [await ledger.tenant_of_message(m) for m in written.msg_ids],
        "chains": chains,
        "awaiting": await ledger.awaiting_count(TENANT),
        "overdue": await ledger.overdue_count(TENANT),
    }


async def key_names(redis: Redis, prefix: str) -> set[bytes]:
    return {key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)}


async def delete_all(redis: Redis, prefix: str) -> int:
    """What a lost ledger looks like: every key under the prefix gone."""
    names = list(await key_names(redis, prefix))
    for start in range(0, len(names), 1000):
        await redis.delete(*names[start : start + 1000])
    return len(names)


async def copy_of(redis: Redis, prefix: str) -> dict[bytes, tuple[bytes, int]]:
    """Redis' own copy of the keys (as an RDB snapshot or an AOF copy would hold them)."""
    copied = {}
    for name in await key_names(redis, prefix):
        payload = await redis.dump(name)
        assert payload is not None  # nothing else writes under a test's prefix
        copied[name] = (payload, int(await redis.pttl(name)))
    return copied


async def put_back(redis: Redis, prefix: str, copy: dict[bytes, tuple[bytes, int]]) -> None:
    """Redis started again from older files: the copy is the whole ledger again, at once
    (as a restarted Redis answers with all of its data or not at all)."""
    later = await key_names(redis, prefix) - set(copy)
    async with redis.pipeline(transaction=True) as pipe:
        if later:
            pipe.delete(*later)
        for name, (payload, pttl) in copy.items():
            pipe.restore(name, max(pttl, 0), payload, replace=True)
        await pipe.execute()


def rewrite_backup(source: Path, target: Path, change: Any) -> None:
    """Write ``target`` as ``source`` with its lines passed through ``change(lines) -> lines``
    and a trailer whose count and checksum fit them: a well-formed file whose keys differ."""
    with gzip.open(source, "rb") as read:
        lines = [json.loads(line) for line in read]
    header, *records = lines[:-1]
    records = change(records)
    sha = hashlib.sha256()
    with gzip.open(target, "wb") as write:
        for value in [header, *records]:
            line = json.dumps(value, separators=(",", ":")).encode() + b"\n"
            sha.update(line)
            write.write(line)
        trailer = {"end": header["format"], "keys": len(records), "sha256": sha.hexdigest()}
        write.write(json.dumps(trailer).encode() + b"\n")


def key_of(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["k"])


def ledger_on(redis: Redis, prefix: str) -> Ledger:
    return Ledger(redis, keys=KeySpace(prefix))
