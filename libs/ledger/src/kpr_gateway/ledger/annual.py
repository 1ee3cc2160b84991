"""Annual IPLOS 3.7 submissions in the ledger: the record, its two messages, the resend rules.

One atomic step (``record``) checks the year's resend discipline and records the submission
with its KPR_IPL and KPR_IDE messages in ``built``, with their MsgHead documents, as
``commit_batch`` does for daily messages: a crash before they are published is recovered by
publishing them again (``unpublished``). A refused submission is recorded with its report and
nothing else. What a submission shows is derived from its KPR_IPL's state
(``states.annual_status``), so receipts needs no annual code.

The resend rules hold per receiver environment: each (tenant, year, environment) has its own
current submission. A test submission to KPR Validering (``validation`` for a tenant in
production) therefore neither blocks the year's submission to KPR nor counts as it, and the
other way round; within one environment the rules are the same (409 while pending, replace
with a reason after an accepted one). Each message stores its environment, which envelope,
dispatch and receipts read (``MessageRecord.environment``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kpr_gateway.ledger import scripts
from kpr_gateway.ledger.errors import LedgerError, LedgerUnavailableError
from kpr_gateway.ledger.keys import KeySpace
from kpr_gateway.ledger.records import AnnualSubmissionRecord, MessageRecord
from kpr_gateway.ledger.replies import history_entry, text
from kpr_gateway.ledger.states import (
    ACCEPTED_MESSAGE_STATES,
    AnnualState,
    MessageState,
    annual_status,
)

_ATTEMPTS = 8
"""Reads of the year's current submission before giving up on a step it keeps moving."""


class AnnualConflictError(LedgerError):
    """The submission id is taken, or the year's current submission kept changing."""


class Discipline(StrEnum):
    """The resend rule's answer for a new submission of a tenant and year."""

    ALLOWED = "allowed"
    PENDING = "pending"
    """The current submission's KPR_IPL has no final state yet."""
    REPLACE_REQUIRED = "replace_required"
    """The current submission was accepted: a new one needs replace and a reason."""


@dataclass(frozen=True, slots=True)
class DisciplineAnswer:
    rule: Discipline
    current_id: str | None
    """The year's current submission (the pending or accepted one), if any."""
    replaces: str | None = None
    """The accepted submission a replacing one replaces."""


@dataclass(frozen=True, slots=True)
class AnnualMessage:
    msg_id: str
    msg_type: str
    document: bytes
    """The MsgHead document, kept until the message moves on (as daily messages)."""


@dataclass(frozen=True, slots=True)
class NewAnnualSubmission:
    submission_id: str
    year: int
    environment: str
    """The receiver's environment (``tenancy.TargetEnvironment`` value): the resend rules and
    both messages go by it."""
    report: dict[str, Any]
    persons: int
    trace_id: str | None
    traceparent: str | None
    messages: tuple[AnnualMessage, AnnualMessage] | None
    """KPR_IPL then KPR_IDE; None for a refused submission (nothing is sent)."""
    refusal_reason: str | None = None
    replace: bool = False
    replace_reason: str | None = None


@dataclass(frozen=True, slots=True)
class UnpublishedMessage:
    msg_id: str
    msg_type: str
    submission_id: str
    document: bytes
    environment: str | None = None
    """As recorded with the message (None for one recorded before messages carried it)."""


class AnnualSubmissions:
    """The annual part of the ledger (``Ledger.annual``); same Redis, keys and retention."""

    def __init__(
        self,
        redis: Redis,
        *,
        keys: KeySpace,
        retention: timedelta,
        clock: Callable[[], datetime],
        read_message: Callable[[str, str], Any],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = int(retention.total_seconds())
        self._clock = clock
        self._read_message = read_message
        self._record = redis.register_script(scripts.RECORD_ANNUAL)

    async def discipline(
        self, tenant_id: str, year: int, *, replace: bool, environment: str
    ) -> DisciplineAnswer:
        """The resend rule for a new submission to ``environment`` now (read only; ``record``
        checks it again)."""
        return await self._run(
            tenant_id, year, replace=replace, environment=environment, submission=None
        )

    async def record(self, tenant_id: str, submission: NewAnnualSubmission) -> DisciplineAnswer:
        """Record the submission (and its messages, when it is sent) in one atomic step.

        A submission to be sent is recorded only when the resend rule allows it; the answer
        says which rule refused it otherwise (nothing changed). A refused one is always
        recorded. Raises AnnualConflictError for a taken id.
        """
        answer = await self._run(
            tenant_id,
            submission.year,
            replace=submission.replace,
            environment=submission.environment,
            submission=submission,
        )
        if answer.rule is Discipline.ALLOWED and submission.messages is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for message in submission.messages:
                        pipe.set(self._keys.message_index(message.msg_id), tenant_id, ex=self._ttl)
                    await pipe.execute()
            except RedisError as exc:
                raise LedgerUnavailableError("ledger write failed (annual message index)") from exc
        return answer

    async def _run(
        self,
        tenant_id: str,
        year: int,
        *,
        replace: bool,
        environment: str,
        submission: NewAnnualSubmission | None,
    ) -> DisciplineAnswer:
        sending = submission is None or submission.messages is not None
        submission_id = submission.submission_id if submission else "dry-run"
        for _ in range(_ATTEMPTS):
            try:
                current, current_ipl = await self._current(tenant_id, year, environment)
                current_key = self._keys.annual_current(tenant_id, year, environment)
                keys = [
                    self._keys.annual_submission(tenant_id, submission_id),
                    current_key,
                    self._keys.annual_year(tenant_id, year),
                    self._keys.annual_years(tenant_id),
                    self._keys.annual_unpublished(tenant_id),
                    self._keys.message(tenant_id, current_ipl) if current_ipl else current_key,
                ]
                now = self._clock()
                args: list[str | bytes | int | float] = [
                    "1" if submission is None else "0",
                    "1" if sending else "0",
                    "1" if replace else "0",
                    self._ttl,
                    now.timestamp(),
                    submission_id,
                    year,
                    current or "",
                    environment,
                ]
                if submission is not None:
                    if submission.messages is not None:
                        for message in submission.messages:
                            keys += [
                                self._keys.message(tenant_id, message.msg_id),
                                self._keys.message_history(tenant_id, message.msg_id),
                            ]
                            args += [
                                message.msg_id,
                                message.msg_type,
                                submission.trace_id or "",
                                submission.traceparent or "",
                                message.document,
                                history_entry(MessageState.BUILT, now, submission.trace_id),
                            ]
                    args += _fields(submission, sending=sending, now=now)
                reply: list[Any] = await self._record(keys=keys, args=args)
            except RedisError as exc:
                raise LedgerUnavailableError("ledger write failed (annual submission)") from exc
            outcome = text(reply[0])
            if outcome == "moved":
                continue
            if outcome == "exists":
                raise AnnualConflictError(
                    f"tenant {tenant_id}: annual submission id {submission_id} is taken"
                )
            named = text(reply[1]) if len(reply) > 1 else ""
            if outcome == "ok":
                return DisciplineAnswer(Discipline.ALLOWED, current, named or None)
            return DisciplineAnswer(Discipline(outcome), named or None)
        raise AnnualConflictError(
            f"tenant {tenant_id}: the current annual submission of {year} kept changing"
        )

    async def _current(
        self, tenant_id: str, year: int, environment: str
    ) -> tuple[str | None, str | None]:
        raw = await self._redis.get(self._keys.annual_current(tenant_id, year, environment))
        if raw is None:
            return None, None
        current = text(raw)
        ipl = await self._redis.hget(self._keys.annual_submission(tenant_id, current), "ipl_msg_id")
        return current, text(ipl) if ipl is not None else None

    async def get(self, tenant_id: str, submission_id: str) -> AnnualSubmissionRecord | None:
        """The submission with both messages' states and receipts, or None."""
        try:
            raw = await self._redis.hgetall(self._keys.annual_submission(tenant_id, submission_id))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (annual submission)") from exc
        if not raw:
            return None
        fields = {text(k): text(v) for k, v in raw.items()}
        ipl_id, ide_id = fields.get("ipl_msg_id") or None, fields.get("ide_msg_id") or None
        ipl: MessageRecord | None = await self._read_message(tenant_id, ipl_id) if ipl_id else None
        ide: MessageRecord | None = await self._read_message(tenant_id, ide_id) if ide_id else None
        state = AnnualState(fields["state"])
        return AnnualSubmissionRecord(
            tenant_id=tenant_id,
            submission_id=submission_id,
            year=int(fields["year"]),
            environment=fields["environment"],
            state=state,
            status=annual_status(state, ipl.state if ipl else None),
            created_at=datetime.fromisoformat(fields["created_at"]),
            report=json.loads(fields["report"]),
            refusal_reason=fields.get("refusal_reason") or None,
            persons=int(fields["persons"]),
            replace_reason=fields.get("replace_reason") or None,
            replaces=fields.get("replaces") or None,
            trace_id=fields.get("trace_id") or None,
            ipl_msg_id=ipl_id,
            ide_msg_id=ide_id,
            ipl=ipl,
            ide=ide,
        )

    async def list_year(self, tenant_id: str, year: int) -> list[AnnualSubmissionRecord]:
        """The year's submissions, oldest first (those past the retention are left out)."""
        try:
            ids: list[Any] = await self._redis.zrange(
                self._keys.annual_year(tenant_id, year), 0, -1
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (annual list)") from exc
        records = [await self.get(tenant_id, text(i)) for i in ids]
        return [r for r in records if r is not None]

    async def years(self, tenant_id: str) -> list[int]:
        try:
            members = await self._redis.smembers(self._keys.annual_years(tenant_id))
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (annual years)") from exc
        return sorted(int(text(m)) for m in members)

    async def accepted_persons(self, tenant_id: str, year: int, *, environment: str) -> int | None:
        """The persons of the year's accepted submission to ``environment``, when there is one
        (persons-changed)."""
        try:
            current, ipl = await self._current(tenant_id, year, environment)
            if current is None or ipl is None:
                return None
            state = await self._redis.hget(self._keys.message(tenant_id, ipl), "state")
            persons = await self._redis.hget(
                self._keys.annual_submission(tenant_id, current), "persons"
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (annual persons)") from exc
        if state is None or MessageState(text(state)) not in ACCEPTED_MESSAGE_STATES:
            return None
        return int(text(persons)) if persons is not None else None

    async def unpublished(
        self, tenant_id: str, *, older_than: timedelta
    ) -> list[UnpublishedMessage]:
        """Annual messages recorded at least ``older_than`` ago and still ``built`` with their
        document: their publish was never confirmed (a crash), so they are published again.
        Those that moved on meanwhile leave the set."""
        deadline = (self._clock() - older_than).timestamp()
        key = self._keys.annual_unpublished(tenant_id)
        try:
            members: list[Any] = await self._redis.zrangebyscore(key, "-inf", deadline)
            found: list[UnpublishedMessage] = []
            for member in members:
                msg_id = text(member)
                state, msg_type, submission_id, document, environment = await self._redis.hmget(
                    self._keys.message(tenant_id, msg_id),
                    ["state", "msg_type", "submission_id", "document", "environment"],
                )
                built = state is not None and text(state) == MessageState.BUILT
                if built and msg_type and submission_id and document:
                    found.append(
                        UnpublishedMessage(
                            msg_id,
                            text(msg_type),
                            text(submission_id),
                            _bytes(document),
                            text(environment) if environment else None,
                        )
                    )
                else:
                    await self._redis.zrem(key, msg_id)
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (annual unpublished)") from exc
        return found

    async def mark_published(self, tenant_id: str, msg_ids: Sequence[str]) -> None:
        """The messages' publish was confirmed: no longer candidates for ``unpublished``."""
        if not msg_ids:
            return
        try:
            await self._redis.zrem(self._keys.annual_unpublished(tenant_id), *msg_ids)
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (annual published)") from exc


def _fields(
    submission: NewAnnualSubmission, *, sending: bool, now: datetime
) -> list[str | bytes | int | float]:
    state = AnnualState.SENT if sending else AnnualState.REFUSED
    fields: dict[str, str] = {
        "state": state.value,
        "year": str(submission.year),
        "environment": submission.environment,
        "created_at": now.isoformat(),
        "report": json.dumps(submission.report),
        "persons": str(submission.persons),
        "trace_id": submission.trace_id or "",
    }
    if submission.refusal_reason:
        fields["refusal_reason"] = submission.refusal_reason
    if submission.replace_reason:
        fields["replace_reason"] = submission.replace_reason
    if submission.messages is not None:
        fields["ipl_msg_id"] = submission.messages[0].msg_id
        fields["ide_msg_id"] = submission.messages[1].msg_id
    return [part for pair in fields.items() for part in pair]


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
