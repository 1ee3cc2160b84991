"""The ledger: every event and KPR message with its states, in Redis.

Writes are single Lua scripts (atomic) and batch calls are pipelined, so the cost
per event stays a fraction of a round trip. Reads assemble the history and derive
what an event shows once batched from its messages' states (never stored twice).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from kpr_gateway.ledger import scripts
from kpr_gateway.ledger.annual import AnnualSubmissions
from kpr_gateway.ledger.chain import (
    ChainCommit,
    ChainReport,
    OriginalInfo,
    chain_arguments,
    head_of,
)
from kpr_gateway.ledger.errors import (
    ChainBrokenError,
    LedgerUnavailableError,
    ResendRefusedError,
    UnknownMessageError,
)
from kpr_gateway.ledger.keys import KeySpace
from kpr_gateway.ledger.records import (
    EventRecord,
    MessageRecord,
    ReceiptMatch,
    ReceiptOutcome,
    Registration,
    RegistrationOutcome,
    RejectionReason,
    Transition,
)
from kpr_gateway.ledger.replies import history_entry, text
from kpr_gateway.ledger.states import (
    EVENT_RANK,
    FINAL_MESSAGE_STATES,
    MESSAGE_RANK,
    RESENDABLE_MESSAGE_STATES,
    EventState,
    MessageState,
    shown_event_status,
)
from kpr_gateway.ledger.verify import walk_chain
from kpr_gateway.ledger.webhooks import WebhookDeliveries
from kpr_gateway.messages.iplos_kpr import ChainHead

DEFAULT_RETENTION = timedelta(days=400)
_KPR_DOCUMENT_COMPRESSION = 1
"""zlib's fastest level: about 4x smaller XML at a fraction of the default level's CPU."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_id: str
    content_hash: str
    trace_id: str | None = None
    """The trace of the request that brought it (else the call's ``trace_id``)."""


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """One KPR message of a batch as transform built it."""

    msg_id: str
    msg_type: str
    document: bytes
    kpr_document: bytes | None = None
    """The inner KPR document (the Melding), kept for the retention so it can be resent."""


@dataclass(frozen=True, slots=True)
class BatchCommit:
    committed: bool
    refused: dict[str, str]
    """Event id -> its state, for events that were no longer ``received`` (or
    ``original_not_sent``: a correction whose original has no number yet)."""
    chain_moved: ChainHead | None = None
    """The stored head, when it was not the one the numbering continued from."""


@dataclass(frozen=True, slots=True)
class UnsentMessage:
    msg_id: str
    msg_type: str
    batch_id: str
    event_ids: list[str]
    document: bytes


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """Ledger operations for all tenants on one Redis (or Redis Cluster)."""

    def __init__(
        self,
        redis: Redis,
        *,
        keys: KeySpace | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._redis = redis
        self._keys = keys or KeySpace()
        self._ttl = int(retention.total_seconds())
        self._clock = clock
        self._register = redis.register_script(scripts.REGISTER_EVENTS)
        self._mark_accepted = redis.register_script(scripts.MARK_ACCEPTED)
        self._transition = redis.register_script(scripts.TRANSITION)
        self._commit_batch = redis.register_script(scripts.COMMIT_BATCH)
        self._resend = redis.register_script(scripts.RESEND_MESSAGE)
        self._verify_links = redis.register_script(scripts.VERIFY_LINKS)
        self.annual = AnnualSubmissions(
            redis,
            keys=self._keys,
            retention=retention,
            clock=clock,
            read_message=self.get_message,
        )
        """Annual IPLOS 3.7 submissions (``annual.py``)."""
        self.webhooks = WebhookDeliveries(
            redis,
            keys=self._keys,
            retention=retention,
            clock=clock,
            read_message=self.get_message,
        )
        """Webhook deliveries of receipts to EPJ clients (``webhooks.py``)."""

    @property
    def redis(self) -> Redis:
        """The connection, for neighbours that keep small shared state (rate limits)."""
        return self._redis

    @property
    def keys(self) -> KeySpace:
        return self._keys

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    # events

    async def register_events(
        self,
        tenant_id: str,
        events: Sequence[NewEvent],
        *,
        trace_id: str | None,
        client_id: str | None = None,
    ) -> list[Registration]:
        """Record received events; a repeat of an event id reports the first one's state.

        The same id with another content hash is a conflict (the caller answers 409). One
        script call for the whole submission: all keys share the tenant's hash tag.
        ``client_id`` is the EPJ client that submitted them (all of them: one call per
        client), kept with each new event so its receipts can be told to that client.
        """
        if not events:
            return []
        now = self._clock()
        keys = [self._keys.event(tenant_id, e.event_id) for e in events]
        keys += [self._keys.event_history(tenant_id, e.event_id) for e in events]
        entries: dict[str | None, str] = {}
        args: list[str | int] = [self._ttl, now.isoformat(), client_id or ""]
        for event in events:
            traced = event.trace_id or trace_id
            entry = entries.get(traced)
            if entry is None:
                entry = entries[traced] = history_entry(EventState.RECEIVED, now, traced)
            args += [event.content_hash, traced or "", entry]
        try:
            known: list[Any] = await self._register(keys=keys, args=args)
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (register events)") from exc
        first = {int(known[i]) - 1: known[i + 1] for i in range(0, len(known), 2)}
        return [_registration(event, first.get(i)) for i, event in enumerate(events)]

    async def mark_accepted(self, tenant_id: str, event_ids: Iterable[str]) -> None:
        """The events' publish was confirmed: from now on they are the pipeline's to deliver."""
        keys = [self._keys.event(tenant_id, event_id) for event_id in event_ids]
        if not keys:
            return
        try:
            await self._mark_accepted(keys=keys)
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (mark accepted)") from exc

    async def settle_events(
        self,
        tenant_id: str,
        event_ids: Iterable[str],
        state: EventState,
        *,
        trace_id: str | None,
        batch_id: str | None = None,
        msg_ids: Sequence[str] = (),
        reasons: Mapping[str, Sequence[RejectionReason]] | None = None,
    ) -> list[bool]:
        """Move received events on (batched, rejected_invalid, suppressed_test_person).

        Returns per event whether it moved: False means it had already been settled
        (a redelivered chunk), so the caller must not batch it again.
        """
        now = self._clock()
        fields: list[str] = []
        if batch_id is not None:
            fields += ["batch_id", batch_id]
        if msg_ids:
            fields += ["msg_ids", json.dumps(list(msg_ids))]
        ids = list(event_ids)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    dumped = [r.model_dump() for r in (reasons or {}).get(event_id, ())]
                    detail = {"reasons": dumped} if dumped else None
                    extra = fields + (["reasons", json.dumps(dumped)] if dumped else [])
                    await self._transition_script(
                        tenant_id,
                        record_key=self._keys.event(tenant_id, event_id),
                        history_key=self._keys.event_history(tenant_id, event_id),
                        member=event_id,
                        state=state,
                        rank=EVENT_RANK[state],
                        entry=history_entry(state, now, trace_id, detail),
                        now=now,
                        fields=extra,
                        client=pipe,
                    )
                replies: list[Any] = await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (settle events)") from exc
        return [int(reply[0]) == 1 for reply in replies]

    async def get_event(self, tenant_id: str, event_id: str) -> EventRecord | None:
        try:
            raw, history = await self._read(
                self._keys.event(tenant_id, event_id), self._keys.event_history(tenant_id, event_id)
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (event)") from exc
        if not raw:
            return None
        msg_ids: list[str] = json.loads(raw.get("msg_ids", "[]"))
        messages = [m for m in [await self.get_message(tenant_id, i) for i in msg_ids] if m]
        state = EventState(raw["state"])
        status = shown_event_status(state, ((m.msg_id, m.state, m.resend_of) for m in messages))
        accepted = raw.get("accepted") == "1"
        if state is EventState.RECEIVED and not accepted:
            # registered, but its publish was never confirmed: the POST was answered 503
            # (or is still being answered); a repeat of it is what gets it accepted
            status = NOT_ACCEPTED
        return EventRecord(
            tenant_id=tenant_id,
            event_id=event_id,
            state=state,
            status=status,
            content_hash=raw["content_hash"],
            accepted=accepted,
            received_at=datetime.fromisoformat(raw["received_at"]),
            trace_id=raw.get("trace_id") or None,
            batch_id=raw.get("batch_id"),
            msg_ids=msg_ids,
            reasons=[RejectionReason(**r) for r in json.loads(raw.get("reasons", "[]"))],
            history=history,
            messages=messages,
            seq=int(raw["seq"]) if "seq" in raw else None,
            previous=raw.get("prev"),
            corrects=raw.get("corrects"),
            municipality=raw.get("municipality"),
            client_id=raw.get("client_id") or None,
        )

    # KPR messages

    async def commit_batch(
        self,
        tenant_id: str,
        *,
        batch_id: str,
        event_ids: Sequence[str],
        messages: Sequence[BatchMessage],
        trace_id: str | None,
        traceparent: str | None,
        chain: ChainCommit | None = None,
    ) -> BatchCommit:
        """Batch the events and record their KPR messages (with documents) in one atomic step.

        Refused, changing nothing, when any event is no longer ``received`` (another delivery
        batched or settled it first): the caller drops those events and builds again.

        With ``chain``, the same step numbers the events in their municipality's chain.
        Refused, changing nothing, when the stored head is not ``chain.expected``
        (``chain_moved``: number again after it) or when a correction's original has no
        number yet (``original_not_sent``: send it after its original). Raises
        ChainBrokenError when the links leave a gap or a fork.
        """
        now = self._clock()
        ids = list(event_ids)
        keys = [self._keys.event(tenant_id, e) for e in ids]
        keys += [self._keys.event_history(tenant_id, e) for e in ids]
        args: list[str | bytes | int] = [
            len(ids),
            len(messages),
            batch_id,
            json.dumps([m.msg_id for m in messages]),
            history_entry(EventState.BATCHED, now, trace_id, {"batch_id": batch_id}),
            self._ttl,
            json.dumps(ids),
        ]
        for message in messages:
            keys += [
                self._keys.message(tenant_id, message.msg_id),
                self._keys.message_history(tenant_id, message.msg_id),
            ]
            args += [
                message.msg_id,
                message.msg_type,
                trace_id or "",
                traceparent or "",
                message.document,
                history_entry(MessageState.BUILT, now, trace_id),
                zlib.compress(message.kpr_document, _KPR_DOCUMENT_COMPRESSION)
                if message.kpr_document
                else b"",
            ]
        if chain is not None:
            chain_args, originals = chain_arguments(chain, ids)
            keys += [
                self._keys.chain_head(tenant_id, chain.municipality),
                self._keys.chain_log(tenant_id, chain.municipality),
                self._keys.chains(tenant_id),
            ]
            keys += [self._keys.event(tenant_id, original) for original in originals]
            args += chain_args
        try:
            reply: list[Any] = await self._commit_batch(keys=keys, args=args)
            outcome = text(reply[0])
            if outcome == "ok":
                async with self._redis.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.set(self._keys.message_index(message.msg_id), tenant_id, ex=self._ttl)
                    await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (commit batch)") from exc
        if outcome == "ok":
            return BatchCommit(committed=True, refused={})
        if outcome == "broken":
            raise ChainBrokenError(f"tenant {tenant_id}: {text(reply[1])}")
        listed = reply[1]
        refused = {ids[int(listed[i]) - 1]: text(listed[i + 1]) for i in range(0, len(listed), 2)}
        moved = head_of(reply[2], reply[3]) if outcome == "moved" else None
        return BatchCommit(committed=False, refused=refused, chain_moved=moved)

    async def kpr_document(self, tenant_id: str, msg_id: str) -> bytes | None:
        """The KPR document (the Melding) a message carries, for sending it again."""
        try:
            stored = await self._redis.hget(self._keys.message(tenant_id, msg_id), "kpr_document")
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (kpr document)") from exc
        if stored is None:
            return None
        if not isinstance(stored, bytes):
            raise TypeError("the Redis client must answer bytes (decode_responses=False)")
        return zlib.decompress(stored)

    async def resend_message(
        self,
        tenant_id: str,
        msg_id: str,
        *,
        new_msg_id: str,
        document: bytes,
        trace_id: str | None,
        traceparent: str | None,
    ) -> None:
        """Record ``new_msg_id`` as sending ``msg_id``'s events again, in one atomic step.

        The new message starts ``built`` with ``document`` (a new MsgHead around the same KPR
        document: the notifications keep their numbers and the chain does not change). Allowed
        once the old message is no longer in flight (overdue or with an outcome); a repeated
        call with the same ids changes nothing. Raises ResendRefusedError otherwise.
        """
        now = self._clock()
        old_key = self._keys.message(tenant_id, msg_id)
        try:
            listed = await self._redis.hget(old_key, "event_ids")
            if listed is None:
                raise ResendRefusedError(f"tenant {tenant_id}: no KPR message {msg_id} to resend")
            event_ids: list[str] = json.loads(text(listed))
            reply: list[Any] = await self._resend(
                keys=[
                    old_key,
                    self._keys.message_history(tenant_id, msg_id),
                    self._keys.message(tenant_id, new_msg_id),
                    self._keys.message_history(tenant_id, new_msg_id),
                    self._keys.overdue(tenant_id),
                    *(self._keys.event(tenant_id, e) for e in event_ids),
                ],
                args=[
                    msg_id,
                    new_msg_id,
                    listed,
                    self._ttl,
                    document,
                    trace_id or "",
                    traceparent or "",
                    history_entry(MessageState.BUILT, now, trace_id, {"resend_of": msg_id}),
                    history_entry("resent", now, trace_id, {"resent_as": new_msg_id}),
                    *sorted(RESENDABLE_MESSAGE_STATES),
                ],
            )
            code = int(reply[0])
            if code > 0:
                await self._redis.set(self._keys.message_index(new_msg_id), tenant_id, ex=self._ttl)
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (resend)") from exc
        if code == 0:
            raise ResendRefusedError(
                f"tenant {tenant_id}: KPR message {msg_id} is still in flight ({text(reply[1])})"
            )
        if code == -1:
            raise ResendRefusedError(f"tenant {tenant_id}: no KPR message {msg_id} to resend")
        if code == -2:
            raise ResendRefusedError(
                f"tenant {tenant_id}: KPR message id {new_msg_id} is taken by another message"
            )

    # chains

    async def chain_head(self, tenant_id: str, municipality: str) -> ChainHead:
        """The municipality's last numbered notification (ChainHead() before the first)."""
        try:
            seq, guid = await self._redis.hmget(
                self._keys.chain_head(tenant_id, municipality), ["seq", "guid"]
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (chain head)") from exc
        return head_of(seq, guid)

    async def chain_municipalities(self, tenant_id: str) -> list[str]:
        try:
            members = await self._redis.smembers(self._keys.chains(tenant_id))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (chains)") from exc
        return sorted(text(m) for m in members)

    async def verify_chain(
        self, tenant_id: str, municipality: str, *, page: int = 1000
    ) -> ChainReport:
        """Walk the chain from seq 1 and report its first gap or fork, else its length and head."""
        try:
            return await walk_chain(
                self._redis, self._keys, self._verify_links, tenant_id, municipality, page=page
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (verify chain)") from exc

    async def originals(self, tenant_id: str, event_ids: Iterable[str]) -> dict[str, OriginalInfo]:
        """What the ledger knows of the originals that corrections name (one round trip)."""
        ids = list(dict.fromkeys(event_ids))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    pipe.hmget(self._keys.event(tenant_id, event_id), ["state", "nstatus", "seq"])
                replies: list[Any] = await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (originals)") from exc
        return {
            event_id: OriginalInfo(
                state=EventState(text(state)) if state is not None else None,
                status=text(status) if status is not None else None,
                seq=int(seq) if seq is not None else None,
            )
            for event_id, (state, status, seq) in zip(ids, replies, strict=True)
        }

    async def unsent_messages(
        self, tenant_id: str, event_ids: Iterable[str]
    ) -> list[UnsentMessage]:
        """Messages of these (batched) events that were built but never moved on.

        After a crash between committing a batch and publishing it, the redelivered events
        lead here, and the stored documents are published again.
        """
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event_id in event_ids:
                    pipe.hget(self._keys.event(tenant_id, event_id), "msg_ids")
                listed: list[Any] = await pipe.execute()
            msg_ids = sorted({m for raw in listed if raw for m in json.loads(text(raw))})
            async with self._redis.pipeline(transaction=False) as pipe:
                for msg_id in msg_ids:
                    pipe.hmget(
                        self._keys.message(tenant_id, msg_id),
                        ["state", "msg_type", "batch_id", "event_ids", "document"],
                    )
                records: list[Any] = await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (unsent messages)") from exc
        unsent = []
        for msg_id, (state, msg_type, batch_id, events, document) in zip(
            msg_ids, records, strict=True
        ):
            if state is not None and text(state) == MessageState.BUILT and document:
                unsent.append(
                    UnsentMessage(
                        msg_id=msg_id,
                        msg_type=text(msg_type),
                        batch_id=text(batch_id),
                        event_ids=json.loads(text(events)),
                        document=document if isinstance(document, bytes) else document.encode(),
                    )
                )
        return unsent

    async def advance_message(
        self,
        tenant_id: str,
        msg_id: str,
        state: MessageState,
        *,
        trace_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Move a message forward (enveloped, dispatched, overdue); False if it already was there.

        Raises UnknownMessageError for a message the ledger never recorded.
        """
        return await self._advance(tenant_id, msg_id, state, trace_id=trace_id, detail=detail)

    async def note_send_attempt(
        self, tenant_id: str, msg_id: str, *, transport_message_id: str, trace_id: str | None
    ) -> None:
        """Before a send: remember the AMQP message-id and leave the attempt in the history.

        A crash after sending but before ``dispatched`` sends again on redelivery; the
        history then shows both attempts, so no send happens without the ledger knowing.
        """
        entry = Transition(
            state="send_attempt",
            at=self._clock(),
            trace_id=trace_id,
            detail={"transport_message_id": transport_message_id},
        ).model_dump_json(exclude_none=True)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._keys.transport_id(tenant_id, transport_message_id), msg_id, ex=self._ttl
                )
                pipe.rpush(self._keys.message_history(tenant_id, msg_id), entry)
                await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (send attempt)") from exc

    async def msg_id_for_transport_id(
        self, tenant_id: str, transport_message_id: str
    ) -> str | None:
        try:
            value = await self._redis.get(self._keys.transport_id(tenant_id, transport_message_id))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (transport id)") from exc
        return text(value) if value is not None else None

    async def record_receipt(
        self, tenant_id: str, msg_id: str, outcome: ReceiptOutcome, *, trace_id: str | None
    ) -> ReceiptMatch:
        """Close a message with its AppRec or transport error."""
        state = _state_of(outcome)
        try:
            moved = await self._advance(
                tenant_id,
                msg_id,
                state,
                trace_id=trace_id,
                detail={"receipt": outcome.model_dump(mode="json")},
                fields=["receipt", outcome.model_dump_json()],
            )
        except UnknownMessageError:
            return ReceiptMatch.UNKNOWN_MESSAGE
        return ReceiptMatch.MATCHED if moved else ReceiptMatch.ALREADY_CLOSED

    async def get_message(self, tenant_id: str, msg_id: str) -> MessageRecord | None:
        try:
            raw, history = await self._read(
                self._keys.message(tenant_id, msg_id), self._keys.message_history(tenant_id, msg_id)
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (message)") from exc
        if not raw:
            return None
        receipt = raw.get("receipt")
        return MessageRecord(
            tenant_id=tenant_id,
            msg_id=msg_id,
            msg_type=raw["msg_type"],
            batch_id=raw["batch_id"],
            event_ids=json.loads(raw["event_ids"]),
            state=MessageState(raw["state"]),
            trace_id=raw.get("trace_id") or None,
            traceparent=raw.get("traceparent") or None,
            receipt=ReceiptOutcome.model_validate_json(receipt) if receipt else None,
            history=history,
            resend_of=raw.get("resend_of") or None,
            submission_id=raw.get("submission_id") or None,
            environment=raw.get("environment") or None,
        )

    async def tenant_of_message(self, msg_id: str) -> str | None:
        try:
            value = await self._redis.get(self._keys.message_index(msg_id))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (message index)") from exc
        return text(value) if value is not None else None

    # overdue detection

    async def mark_overdue(self, tenant_id: str, *, older_than: timedelta) -> list[str]:
        """Mark dispatched messages without an outcome after ``older_than`` as overdue."""
        deadline = (self._clock() - older_than).timestamp()
        try:
            due: list[Any] = await self._redis.zrangebyscore(
                self._keys.awaiting_receipt(tenant_id), "-inf", deadline
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (awaiting)") from exc
        marked = []
        for member in due:
            msg_id = text(member)
            if await self._advance(tenant_id, msg_id, MessageState.OVERDUE, trace_id=None):
                marked.append(msg_id)
        return marked

    async def overdue_count(self, tenant_id: str) -> int:
        try:
            return int(await self._redis.zcard(self._keys.overdue(tenant_id)))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (overdue)") from exc

    async def awaiting_count(self, tenant_id: str) -> int:
        try:
            return int(await self._redis.zcard(self._keys.awaiting_receipt(tenant_id)))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (awaiting)") from exc

    # internals

    async def _advance(
        self,
        tenant_id: str,
        msg_id: str,
        state: MessageState,
        *,
        trace_id: str | None,
        detail: dict[str, Any] | None = None,
        fields: Sequence[str] = (),
    ) -> bool:
        now = self._clock()
        if state is MessageState.DISPATCHED:
            awaiting = "add"
        elif state is MessageState.OVERDUE:
            awaiting = "overdue"
        elif state in FINAL_MESSAGE_STATES:
            awaiting = "remove"
        else:
            awaiting = ""
        try:
            reply = await self._transition_script(
                tenant_id,
                record_key=self._keys.message(tenant_id, msg_id),
                history_key=self._keys.message_history(tenant_id, msg_id),
                member=msg_id,
                state=state,
                rank=MESSAGE_RANK[state],
                entry=history_entry(state, now, trace_id, detail),
                now=now,
                fields=fields,
                awaiting=awaiting,
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (message transition)") from exc
        if int(reply[0]) == -1:
            raise UnknownMessageError(f"tenant {tenant_id}: no KPR message {msg_id} in the ledger")
        return int(reply[0]) == 1

    def _transition_script(
        self,
        tenant_id: str,
        *,
        record_key: str,
        history_key: str,
        member: str,
        state: EventState | MessageState,
        rank: int,
        entry: str,
        now: datetime,
        fields: Sequence[str],
        awaiting: str = "",
        client: Pipeline | None = None,
    ) -> Awaitable[Any]:
        """One call of the TRANSITION script (events and messages share it)."""
        return self._transition(
            keys=[
                record_key,
                history_key,
                self._keys.awaiting_receipt(tenant_id),
                self._keys.overdue(tenant_id),
            ],
            args=[
                state.value,
                rank,
                entry,
                self._ttl,
                now.timestamp(),
                member,
                awaiting,
                *fields,
            ],
            client=client,
        )

    async def _read(
        self, record_key: str, history_key: str
    ) -> tuple[dict[str, str], list[Transition]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(record_key)
            pipe.lrange(history_key, 0, -1)
            raw, history = await pipe.execute()
        fields = ((text(k), v) for k, v in raw.items())
        record = {k: text(v) for k, v in fields if k not in _BINARY_FIELDS}
        return record, [Transition.model_validate_json(entry) for entry in history]


NOT_ACCEPTED = "not_accepted"
"""What a registered event whose publish was never confirmed shows (its POST got a 503)."""

# Documents are bytes (the KPR document compressed); the read models never carry them.
_BINARY_FIELDS = frozenset({"document", "kpr_document"})


def _state_of(outcome: ReceiptOutcome) -> MessageState:
    if outcome.kind == "transport_error":
        return MessageState.TRANSPORT_ERROR
    return {
        1: MessageState.ACKNOWLEDGED,
        2: MessageState.REJECTED,
        3: MessageState.ACKNOWLEDGED_WITH_ERRORS,
    }[outcome.status_code or 0]


def _registration(event: NewEvent, reply: list[Any] | None) -> Registration:
    """``reply``: the first registration's {content_hash, state, accepted}; None if new."""
    if reply is None:
        return Registration(
            event_id=event.event_id,
            outcome=RegistrationOutcome.NEW,
            state=EventState.RECEIVED,
            accepted=False,
        )
    content_hash, state, accepted = (text(part) for part in reply)
    return Registration(
        event_id=event.event_id,
        outcome=(
            RegistrationOutcome.REPEAT
            if content_hash == event.content_hash
            else RegistrationOutcome.CONFLICT
        ),
        state=EventState(state),
        accepted=accepted == "1",
    )
