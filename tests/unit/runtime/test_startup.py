"""StartGate: deliveries that arrive before the component has started wait for it."""

from __future__ import annotations

import asyncio

import pytest

from kpr_gateway.pipeline import TransientError
from kpr_gateway.runtime import NotStartedError, StartGate


async def test_a_handler_waits_until_the_start_up_work_is_done() -> None:
    gate = StartGate()
    resolved: list[str] = []
    may_finish = asyncio.Event()

    async def start_up() -> None:
        await may_finish.wait()
        resolved.append("receivers")

    async def handler() -> list[str]:
        await gate.wait()
        return list(resolved)

    starting = asyncio.create_task(gate.run(start_up))
    waiting = asyncio.create_task(handler())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert not gate.is_open

    may_finish.set()
    await starting
    assert await waiting == ["receivers"]
    assert gate.is_open
    await gate.wait()  # once open, at once


async def test_a_failed_start_up_fails_the_waiting_handlers_transiently() -> None:
    gate = StartGate()
    failing = asyncio.Event()

    async def start_up() -> None:
        await failing.wait()
        raise LookupError("no receiver")

    waiting = asyncio.create_task(gate.wait())
    starting = asyncio.create_task(gate.run(start_up))
    await asyncio.sleep(0.01)
    failing.set()

    with pytest.raises(LookupError, match="no receiver"):
        await starting
    with pytest.raises(NotStartedError, match=r"did not start \(LookupError\)") as failed:
        await waiting
    assert isinstance(failed.value, TransientError)  # the bus retries it later
    assert not gate.is_open
