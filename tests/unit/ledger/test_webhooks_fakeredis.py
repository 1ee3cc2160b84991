"""The webhook scenarios of the ledger on fakeredis (the embedded mode's in-process Redis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger
from tests.integration.ledger import webhook_scenarios
from tests.integration.ledger.scenarios import Clock


@pytest.mark.parametrize("scenario", webhook_scenarios.SCENARIOS, ids=lambda s: s.__name__)
async def test_webhooks_on_fakeredis(scenario: Callable[[Ledger], Awaitable[None]]) -> None:
    await scenario(Ledger(FakeAsyncRedis()))


async def test_attempt_times_on_fakeredis() -> None:
    clock = Clock()
    await webhook_scenarios.attempt_times_come_from_the_ledger_s_clock(
        Ledger(FakeAsyncRedis(), clock=clock), clock
    )
