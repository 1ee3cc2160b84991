"""Webhook deliveries in the ledger (``Ledger.webhooks``): per KPR message and EPJ client,
what became of telling that client the message's receipt.

- ``message_events``: what the webhooks service sends: the message, and its events grouped by
  the client that submitted them (``EventRecord.client_id``, kept since intake registers
  events with their client), each with the status it shows (as ``get_event`` derives it).
- ``deliveries``: each client's delivery of one or more messages (for skipping a client
  already delivered on a retry, and for the event view of the API).
- ``record_attempt``: one attempt, in one atomic step (``RECORD_WEBHOOK_ATTEMPT``).

Key: ``kprgw:{tenant}:msg:<msg_id>:webhooks``, a hash with the fields ``<client_id>:state``,
``:attempts``, ``:last_attempt_at``, ``:last_status``, ``:last_error`` and ``:delivered_at``
(client ids hold no ``:``); it expires with the retention, counted from the last attempt.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kpr_gateway.ledger import scripts
from kpr_gateway.ledger.errors import LedgerUnavailableError
from kpr_gateway.ledger.keys import KeySpace
from kpr_gateway.ledger.records import MessageRecord
from kpr_gateway.ledger.replies import text
from kpr_gateway.ledger.states import EventState, MessageState, shown_event_status

ReadMessage = Callable[[str, str], Awaitable[MessageRecord | None]]


class DeliveryState(StrEnum):
    DELIVERED = "delivered"
    """The webhook answered 2xx. Stays so, whatever a later copy's attempt met."""
    RETRYING = "retrying"
    """The last attempt failed; the notice waits in a retry queue for the next."""
    FAILED = "failed"
    """The last attempt of the retry schedule failed: the notice is parked with the reason."""


class WebhookDelivery(BaseModel):
    """The delivery of one message's receipt to one EPJ client's webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str
    state: DeliveryState
    attempts: int
    last_attempt_at: datetime | None = None
    last_status: int | None = Field(
        default=None, description="The HTTP status of the last attempt; none if it got no answer."
    )
    last_error: str | None = Field(
        default=None,
        description="Why the last attempt failed, in the gateway's words (HTTP 503, timeout); "
        "never the receiver's answer.",
    )
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str
    status: str
    """What the event shows (``EventRecord.status``): once batched, its messages' outcome."""


@dataclass(frozen=True, slots=True)
class MessageEvents:
    """A message and its events by the EPJ client that submitted them."""

    message: MessageRecord
    by_client: dict[str, list[EventOutcome]]
    """Client id -> that client's events, in the message's order."""
    without_client: int
    """Events with no client recorded (registered before the ledger kept it) or expired."""


class WebhookDeliveries:
    """The webhook part of the ledger; same Redis, keys, retention and clock."""

    def __init__(
        self,
        redis: Redis,
        *,
        keys: KeySpace,
        retention: timedelta,
        clock: Callable[[], datetime],
        read_message: ReadMessage,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = int(retention.total_seconds())
        self._clock = clock
        self._read_message = read_message
        self._record = redis.register_script(scripts.RECORD_WEBHOOK_ATTEMPT)

    async def message_events(self, tenant_id: str, msg_id: str) -> MessageEvents | None:
        """The message with its events grouped by client (None for a message it never
        recorded); three round trips, whatever the number of events."""
        message = await self._read_message(tenant_id, msg_id)
        if message is None:
            return None
        ids = message.event_ids
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    pipe.hmget(self._keys.event(tenant_id, event_id), _EVENT_FIELDS)
                events: list[Any] = await pipe.execute()
            carried = {
                event_id: json.loads(text(msg_ids)) if msg_ids else []
                for event_id, (_, _, msg_ids) in zip(ids, events, strict=True)
            }
            others = sorted({m for listed in carried.values() for m in listed} - {msg_id})
            async with self._redis.pipeline(transaction=False) as pipe:
                for other in others:
                    pipe.hmget(self._keys.message(tenant_id, other), ["state", "resend_of"])
                other_states: list[Any] = await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (message events)") from exc
        messages = {msg_id: (message.state, message.resend_of)}
        for other, (state, resend_of) in zip(others, other_states, strict=True):
            if state is not None:
                messages[other] = (MessageState(text(state)), text(resend_of or b"") or None)
        by_client: dict[str, list[EventOutcome]] = {}
        without_client = 0
        for event_id, (client, state, _) in zip(ids, events, strict=True):
            if not client or state is None:
                without_client += 1
                continue
            shown = shown_event_status(
                EventState(text(state)),
                ((m, *messages[m]) for m in carried[event_id] if m in messages),
            )
            by_client.setdefault(text(client), []).append(EventOutcome(event_id, shown))
        return MessageEvents(message, by_client, without_client)

    async def deliveries(
        self, tenant_id: str, msg_ids: Sequence[str]
    ) -> dict[str, list[WebhookDelivery]]:
        """Per message id, its deliveries by client id (one round trip)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for msg_id in msg_ids:
                    pipe.hgetall(self._keys.webhook_deliveries(tenant_id, msg_id))
                stored: list[dict[Any, Any]] = await pipe.execute()
        except RedisError as exc:
            raise LedgerUnavailableError("ledger read failed (webhook deliveries)") from exc
        return {msg_id: _deliveries(raw) for msg_id, raw in zip(msg_ids, stored, strict=True)}

    async def record_attempt(
        self,
        tenant_id: str,
        msg_id: str,
        client_id: str,
        *,
        state: DeliveryState,
        status_code: int | None = None,
        error: str | None = None,
    ) -> int:
        """Record one attempt now (``delivered``, ``retrying`` or ``failed``) with the HTTP
        status and our words for a failure; returns the client's attempts so far."""
        if ":" in client_id:
            raise ValueError("a client id holds no ':' (the hash's field separator)")
        try:
            attempts = await self._record(
                keys=[self._keys.webhook_deliveries(tenant_id, msg_id)],
                args=[
                    client_id,
                    self._clock().isoformat(),
                    state.value,
                    "" if status_code is None else status_code,
                    error or "",
                    self._ttl,
                ],
            )
        except RedisError as exc:
            raise LedgerUnavailableError("ledger write failed (webhook attempt)") from exc
        return int(attempts)


_EVENT_FIELDS = ["client_id", "state", "msg_ids"]


def _deliveries(raw: dict[Any, Any]) -> list[WebhookDelivery]:
    fields: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        client_id, _, name = text(key).partition(":")
        fields.setdefault(client_id, {})[name] = text(value)
    return [_delivery(client_id, own) for client_id, own in sorted(fields.items())]


def _delivery(client_id: str, fields: dict[str, str]) -> WebhookDelivery:
    def moment(name: str) -> datetime | None:
        value = fields.get(name)
        return datetime.fromisoformat(value) if value else None

    status = fields.get("last_status")
    return WebhookDelivery(
        client_id=client_id,
        state=DeliveryState(fields.get("state", DeliveryState.RETRYING)),
        attempts=int(fields.get("attempts", "0")),
        last_attempt_at=moment("last_attempt_at"),
        last_status=int(status) if status else None,
        last_error=fields.get("last_error") or None,
        delivered_at=moment("delivered_at"),
    )
