"""The same scenarios on fakeredis: the embedded mode's in-process Redis must behave alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger, MessageState, combined_message_state
from tests.integration.ledger import chain_scenarios, scenarios


@pytest.mark.parametrize(
    "scenario", scenarios.SCENARIOS + chain_scenarios.SCENARIOS, ids=lambda s: s.__name__
)
async def test_ledger_on_fakeredis(scenario: Callable[[Ledger], Awaitable[None]]) -> None:
    await scenario(Ledger(FakeAsyncRedis()))


async def test_overdue_on_fakeredis() -> None:
    clock = scenarios.Clock()
    await scenarios.overdue_messages_are_marked_and_can_still_close(
        Ledger(FakeAsyncRedis(), clock=clock), clock
    )


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], None),
        ([MessageState.ACKNOWLEDGED, MessageState.ACKNOWLEDGED], MessageState.ACKNOWLEDGED),
        (
            [MessageState.ACKNOWLEDGED, MessageState.ACKNOWLEDGED_WITH_ERRORS],
            MessageState.ACKNOWLEDGED_WITH_ERRORS,
        ),
        ([MessageState.ACKNOWLEDGED, MessageState.DISPATCHED], MessageState.DISPATCHED),
        ([MessageState.BUILT, MessageState.DISPATCHED], MessageState.BUILT),
        ([MessageState.OVERDUE, MessageState.ACKNOWLEDGED], MessageState.OVERDUE),
        ([MessageState.REJECTED, MessageState.TRANSPORT_ERROR], MessageState.REJECTED),
    ],
)
def test_event_status_is_derived_from_its_messages(
    states: list[MessageState], expected: MessageState | None
) -> None:
    assert combined_message_state(states) == expected
