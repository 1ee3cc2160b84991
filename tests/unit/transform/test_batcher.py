"""The batcher's waits: an add returns once its events are batched, or with the first failure."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from opentelemetry.trace import INVALID_SPAN_CONTEXT

from kpr_gateway.messages.iplos_kpr import Contact, ContactType, EpjSystem, Notification
from kpr_gateway.pipeline.contracts import AcceptedEvent
from kpr_gateway.tenancy import MeldingProfile
from kpr_gateway.transform.batcher import Batcher, BatchKey, PendingEvent

PROFILE = MeldingProfile(
    system=EpjSystem("Omsorgsdata AS", "Omsorg EPJ", "24.3"),
    contacts=(Contact("Kari", "kari@example.invalid", ContactType.IPLOS_CONTACT),),
)
KEY = ("bergen", "4601", PROFILE)


def pending(number: int) -> PendingEvent:
    # The batcher looks at nothing but the event id and the waiting.
    accepted = cast(AcceptedEvent, None)
    event = cast(Notification, None)
    return PendingEvent(accepted, event, INVALID_SPAN_CONTEXT, f"event-{number}")


async def test_an_add_returns_once_every_event_is_batched() -> None:
    flushed: list[list[str]] = []

    async def flush(key: BatchKey, items: Sequence[PendingEvent]) -> None:
        flushed.append([item.event_id for item in items])

    batcher = Batcher(flush, max_events=2, max_age=60)
    await asyncio.wait_for(batcher.add(KEY, [pending(n) for n in range(4)]), 1)
    assert flushed == [["event-0", "event-1"], ["event-2", "event-3"]]


async def test_an_add_fails_with_the_first_failed_event() -> None:
    async def flush(key: BatchKey, items: Sequence[PendingEvent]) -> None:
        items[0].succeed()
        items[1].fail(LookupError("event-1 is not in the ledger"))
        # the rest succeed when the flush returns

    batcher = Batcher(flush, max_events=3, max_age=60)
    with pytest.raises(LookupError, match="event-1"):
        await asyncio.wait_for(batcher.add(KEY, [pending(n) for n in range(3)]), 1)


async def test_a_failed_flush_fails_the_events_not_yet_settled() -> None:
    async def flush(key: BatchKey, items: Sequence[PendingEvent]) -> None:
        items[0].succeed()
        raise RuntimeError("ledger down")

    batcher = Batcher(flush, max_events=2, max_age=60)
    first, second = pending(0), pending(1)
    with pytest.raises(RuntimeError, match="ledger down"):
        await asyncio.wait_for(batcher.add(KEY, [first, second]), 1)
    assert first.finished
    assert second.finished


async def test_events_already_settled_are_not_waited_for() -> None:
    calls: list[Any] = []

    async def flush(key: BatchKey, items: Sequence[PendingEvent]) -> None:
        calls.append(items)

    batcher = Batcher(flush, max_events=5, max_age=0.01)
    done = pending(0)
    done.succeed()
    await asyncio.wait_for(batcher.add(KEY, [done, pending(1)]), 1)
    assert len(calls) == 1
