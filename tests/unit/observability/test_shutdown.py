from __future__ import annotations

import asyncio
import os
import signal
from types import FrameType

import pytest

from kpr_gateway.observability import GracefulShutdown, ObservabilityError


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_real_signal_starts_draining_and_handlers_are_restored(
    sig: signal.Signals,
) -> None:
    before = signal.getsignal(sig)
    async with GracefulShutdown() as shutdown:
        assert not shutdown.draining
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(shutdown.wait(), timeout=5)
        assert shutdown.draining
        assert shutdown.received_signal is sig
    assert signal.getsignal(sig) is before


async def test_a_second_signal_hands_over_to_the_previous_handler() -> None:
    calls: list[int] = []

    def previous_handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    original = signal.signal(signal.SIGUSR1, previous_handler)
    try:
        shutdown = GracefulShutdown(signals=(signal.SIGUSR1,))
        shutdown.install()
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(shutdown.wait(), timeout=5)
        assert calls == []
        os.kill(os.getpid(), signal.SIGUSR1)
        async with asyncio.timeout(5):
            while not calls:
                await asyncio.sleep(0.01)
        assert calls == [signal.SIGUSR1]
        assert signal.getsignal(signal.SIGUSR1) is previous_handler
        shutdown.uninstall()  # already done by the second signal; harmless
    finally:
        signal.signal(signal.SIGUSR1, original)


async def test_request_drains_without_a_signal() -> None:
    shutdown = GracefulShutdown()
    waiter = asyncio.create_task(shutdown.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    shutdown.request()
    await asyncio.wait_for(waiter, timeout=5)
    assert shutdown.draining
    assert shutdown.received_signal is None


async def test_installing_twice_is_refused() -> None:
    async with GracefulShutdown(signals=(signal.SIGUSR2,)) as shutdown:
        with pytest.raises(ObservabilityError, match="already installed"):
            shutdown.install()
