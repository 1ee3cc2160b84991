"""The invariant checker: what was accepted, what the ledger says, what the simulator received.

- **Final**: every event answered 202 is in the ledger and final: settled without a message
  (rejected_invalid, suppressed_test_person, not_reportable), or batched with its messages (a
  resent one no longer counts, as ``GET /v1/events`` reads it) in a final state: acknowledged,
  acknowledged_with_errors, rejected (by KPR), transport_error, refused, or overdue (a
  message the simulator did not answer). Anything else is **lost**.
- **Duplicated**: a MsgId the simulator received more times than the ledger recorded send
  attempts for it, a MsgId it received that the ledger does not know, or a notification it
  received in two messages when the later one is not a resend of the earlier (``resend_of``).
- **Chains**: ``kpr_gateway.ledger``'s chain walk of every municipality of every tenant.
- **Recovered**: a fault is recovered when, after the affected services were ready again, a
  message built after that moment was acknowledged; its recovery time runs from the injection
  to that acknowledgement.

The events are read with one pipelined ``HMGET`` per thousand (their state and messages: the
ledger's ``get_event`` would read each message again per event), the messages with
``Ledger.get_message``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from redis.asyncio import Redis

from bench.chaos.inject import Injected
from bench.ledger_watch import FINAL_MESSAGE_STATES, SETTLED_EVENT_STATES
from kpr_gateway.ledger import KeySpace, Ledger, MessageRecord, MessageState, combined_message_state

FINAL_STATES: Final = frozenset(MessageState(state) for state in FINAL_MESSAGE_STATES)
ACKNOWLEDGED: Final = frozenset({"acknowledged", "acknowledged_with_errors"})
SEND_ATTEMPT: Final = "send_attempt"
_PAGE: Final = 1000
_SHOWN: Final = 20


@dataclass(frozen=True)
class MessageView:
    tenant: str
    msg_id: str
    state: str
    send_attempts: int
    resend_of: str | None
    built_at: datetime | None
    acknowledged_at: datetime | None
    error_codes: tuple[str, ...]
    events: int

    @classmethod
    def of(cls, record: MessageRecord) -> MessageView:
        built = next((t.at for t in record.history if t.state == MessageState.BUILT), None)
        acknowledged = next((t.at for t in record.history if t.state in ACKNOWLEDGED), None)
        attempts = sum(1 for t in record.history if t.state == SEND_ATTEMPT)
        codes = tuple(e.code for e in record.receipt.errors) if record.receipt else ()
        if record.receipt and record.receipt.error_condition:
            codes = (record.receipt.error_condition,)
        return cls(
            tenant=record.tenant_id,
            msg_id=record.msg_id,
            state=record.state.value,
            send_attempts=attempts,
            resend_of=record.resend_of,
            built_at=built,
            acknowledged_at=acknowledged,
            error_codes=codes,
            events=len(record.event_ids),
        )


@dataclass(frozen=True)
class EventView:
    state: str | None
    """None: not in the ledger."""
    msg_ids: tuple[str, ...] = ()


def event_outcome(event: EventView, messages: Mapping[str, MessageView]) -> tuple[bool, str]:
    """(final, the state it ended in or why it is not final)."""
    if event.state is None or event.state in SETTLED_EVENT_STATES:
        return event.state is not None, event.state or "unknown to the ledger"
    known = [messages[m] for m in event.msg_ids if m in messages]
    if event.state != "batched" or len(known) < len(event.msg_ids):
        why = event.state if event.state != "batched" else "a message of it is unknown"
        return False, f"not final: {why}"
    superseded = {m.resend_of for m in known if m.resend_of}
    combined = combined_message_state(
        MessageState(m.state) for m in known if m.msg_id not in superseded
    )
    if combined is None:
        return False, "not final: batched without a message"
    if combined in FINAL_STATES:
        return True, combined.value
    return False, f"not final: {combined.value}"


@dataclass
class Duplicates:
    unexplained: list[str] = field(default_factory=list)
    redeliveries_explained: int = 0
    """MsgIds received more than once, each within the ledger's send attempts for it."""
    resent_notifications: int = 0
    """Notifications received in two messages, the later a recorded resend of the earlier."""


def duplicates(received: Mapping[str, Any], messages: Mapping[str, MessageView]) -> Duplicates:
    found = Duplicates()
    for msg_id, count in received.get("messages", {}).items():
        message = messages.get(msg_id)
        if message is None:
            found.unexplained.append(f"MsgId {msg_id} received {count}x, unknown to the ledger")
        elif count > message.send_attempts:
            found.unexplained.append(
                f"MsgId {msg_id} received {count}x, {message.send_attempts} send attempt(s)"
            )
        elif count > 1:
            found.redeliveries_explained += 1
    for guid, msg_ids in received.get("repeated_notifications", {}).items():
        for index, later in enumerate(msg_ids[1:], start=1):
            if _resends_one_of(later, set(msg_ids[:index]), messages):
                found.resent_notifications += 1
            else:
                found.unexplained.append(
                    f"notification {guid} received in {msg_ids[0]} and {later}, no resend recorded"
                )
    return found


def _resends_one_of(msg_id: str, earlier: set[str], messages: Mapping[str, MessageView]) -> bool:
    seen: set[str] = set()
    current = messages.get(msg_id)
    while current is not None and current.resend_of and current.msg_id not in seen:
        seen.add(current.msg_id)
        if current.resend_of in earlier:
            return True
        current = messages.get(current.resend_of)
    return False


def recovered_at(injected: Injected, messages: Iterable[MessageView]) -> datetime | None:
    """When a message built after the affected services were ready again was acknowledged."""
    if injected.ready_at is None or injected.problem is not None:
        return None
    ready = injected.ready_at
    times = [
        m.acknowledged_at
        for m in messages
        if m.built_at is not None and m.built_at >= ready and m.acknowledged_at is not None
    ]
    return min(times) if times else None


@dataclass(frozen=True)
class LedgerView:
    events: dict[str, dict[str, EventView]]
    """tenant -> event id -> what the ledger holds."""
    messages: dict[str, MessageView]
    chains: dict[str, list[dict[str, Any]]]
    """tenant -> each municipality's chain walk."""


async def read_ledger(
    redis: Redis, prefix: str, accepted: Mapping[str, Sequence[str]], also: Iterable[str] = ()
) -> LedgerView:
    """The accepted events, their messages and ``also`` (MsgIds the simulator received),
    and every chain of the tenants."""
    keys = KeySpace(prefix)
    ledger = Ledger(redis, keys=keys)
    events = {tenant: await _events(redis, keys, tenant, ids) for tenant, ids in accepted.items()}
    wanted = {(t, m) for t, views in events.items() for v in views.values() for m in v.msg_ids}
    known = {msg_id for _, msg_id in wanted}
    for msg_id in set(also) - known:
        tenant_id = await ledger.tenant_of_message(msg_id)
        if tenant_id is not None:
            wanted.add((tenant_id, msg_id))
    messages: dict[str, MessageView] = {}
    for tenant, msg_id in sorted(wanted):
        await _add_message(ledger, tenant, msg_id, messages)
    # A resend points back to a message whose events may all be elsewhere in the counting.
    for view in list(messages.values()):
        if view.resend_of and view.resend_of not in messages:
            await _add_message(ledger, view.tenant, view.resend_of, messages)
    chains: dict[str, list[dict[str, Any]]] = {}
    for tenant in accepted:
        chains[tenant] = []
        for municipality in await ledger.chain_municipalities(tenant):
            report = await ledger.verify_chain(tenant, municipality)
            chains[tenant].append(
                {
                    "municipality": municipality,
                    "length": report.length,
                    "ok": report.ok,
                    "problem": report.problem,
                }
            )
    return LedgerView(events, messages, chains)


async def _events(
    redis: Redis, keys: KeySpace, tenant: str, ids: Sequence[str]
) -> dict[str, EventView]:
    events: dict[str, EventView] = {}
    for start in range(0, len(ids), _PAGE):
        page = ids[start : start + _PAGE]
        async with redis.pipeline(transaction=False) as pipe:
            for event_id in page:
                pipe.hmget(keys.event(tenant, event_id), ["state", "msg_ids"])
            replies: list[Any] = await pipe.execute()
        for event_id, (state, msg_ids) in zip(page, replies, strict=True):
            listed = tuple(json.loads(msg_ids)) if msg_ids else ()
            events[event_id] = EventView(state.decode() if state else None, listed)
    return events


async def _add_message(
    ledger: Ledger, tenant: str, msg_id: str, messages: dict[str, MessageView]
) -> None:
    record = await ledger.get_message(tenant, msg_id)
    if record is not None:
        messages[msg_id] = MessageView.of(record)


@dataclass
class Verdict:
    accepted: int
    final_by_state: Counter[str]
    lost: Counter[str]
    lost_examples: list[str]
    duplicates: Duplicates
    chains: dict[str, list[dict[str, Any]]]
    messages_by_state: Counter[str]
    apprec_error_codes: Counter[str]
    recoveries: list[dict[str, Any]]

    @property
    def lost_count(self) -> int:
        return sum(self.lost.values())

    @property
    def chains_ok(self) -> bool:
        return all(c["ok"] for reports in self.chains.values() for c in reports)

    @property
    def all_recovered(self) -> bool:
        return all(r["recovered"] for r in self.recoveries)

    @property
    def passed(self) -> bool:
        return (
            self.lost_count == 0
            and not self.duplicates.unexplained
            and self.all_recovered
            and self.chains_ok
        )

    def failures(self) -> list[str]:
        found = []
        if self.lost_count:
            found.append(f"{self.lost_count} accepted events lost")
        if self.duplicates.unexplained:
            found.append(f"{len(self.duplicates.unexplained)} unexplained duplicates")
        unrecovered = [r["fault"] for r in self.recoveries if not r["recovered"]]
        if unrecovered:
            found.append(f"not recovered: {'; '.join(unrecovered)}")
        if not self.chains_ok:
            found.append("a chain has a gap or a fork")
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "final_by_state": dict(self.final_by_state),
            "lost": self.lost_count,
            "lost_by_reason": dict(self.lost),
            "lost_examples": self.lost_examples,
            "duplicates": {
                "unexplained": len(self.duplicates.unexplained),
                "unexplained_examples": self.duplicates.unexplained[:_SHOWN],
                "redeliveries_within_send_attempts": self.duplicates.redeliveries_explained,
                "notifications_in_a_recorded_resend": self.duplicates.resent_notifications,
            },
            "chains": self.chains,
            "messages_by_state": dict(self.messages_by_state),
            "apprec_error_codes": dict(self.apprec_error_codes),
            "recoveries": self.recoveries,
            "passed": self.passed,
            "failures": self.failures(),
        }


def judge(
    accepted: Mapping[str, Sequence[str]],
    view: LedgerView,
    received: Mapping[str, Any],
    injected: Sequence[Injected],
) -> Verdict:
    final: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    examples: list[str] = []
    for tenant, ids in accepted.items():
        for event_id in ids:
            is_final, outcome = event_outcome(view.events[tenant][event_id], view.messages)
            if is_final:
                final[outcome] += 1
            else:
                lost[outcome] += 1
                if len(examples) < _SHOWN:
                    examples.append(f"{tenant}/{event_id}: {outcome}")
    codes: Counter[str] = Counter()
    for message in view.messages.values():
        codes.update(message.error_codes)
    recoveries = []
    for item in injected:
        at = recovered_at(item, view.messages.values())
        recoveries.append(
            {
                "kind": item.fault.kind.value,
                "fault": item.fault.describe(),
                "injected_at": item.injected_at.isoformat(),
                "recovered": at is not None,
                "recovery_seconds": round((at - item.injected_at).total_seconds(), 2)
                if at is not None
                else None,
                "ready_seconds": round((item.ready_at - item.injected_at).total_seconds(), 2)
                if item.ready_at is not None
                else None,
                "problem": item.problem,
                "detail": item.detail,
            }
        )
    return Verdict(
        accepted=sum(len(ids) for ids in accepted.values()),
        final_by_state=final,
        lost=lost,
        lost_examples=examples,
        duplicates=duplicates(received, view.messages),
        chains=view.chains,
        messages_by_state=Counter(m.state for m in view.messages.values()),
        apprec_error_codes=codes,
        recoveries=recoveries,
    )
