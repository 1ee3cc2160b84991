"""Answers held back while a gap in a sender's chain may still close.

Messages overtake each other on the way (the gateway seals and sends them concurrently), so
a message that starts after a gap is not rejected at once: its answer waits until the number
before it arrives (then it is answered as it would have been) or until the grace period
ends (then it is rejected, naming the first missing number).

The caller accepts the message once its answer is held, so waiting takes no credit from the
queue and never stops the messages that close the gap. ``close()`` gives every held answer
at once (a gap still open is a rejection): a stop loses none; a crash loses them, as it
loses any answer not yet sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.simulator.chain import ChainBook, ChainKey, gap_error
from kpr_gateway.simulator.errors import SimulatorError

Ticket = TypeVar("Ticket")

DEFAULT_GAP_GRACE_SECONDS = 30.0


@dataclass(eq=False)
class _Held(Generic[Ticket]):
    key: ChainKey
    first_seq: int
    ticket: Ticket
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class HeldAnswers(Generic[Ticket]):
    """Held answers by chain. Used from the event loop only.

    ``answer(ticket, gap)`` gives one: ``gap`` is the rejection when the gap is still open,
    None when it closed. It must not raise (it runs as a task of its own).
    """

    def __init__(
        self,
        book: ChainBook,
        answer: Callable[[Ticket, AppRecErrorCode | None], Awaitable[None]],
        *,
        grace_seconds: float = DEFAULT_GAP_GRACE_SECONDS,
    ) -> None:
        if grace_seconds <= 0:
            raise SimulatorError("gap_grace_seconds must be positive")
        self._book = book
        self._answer = answer
        self._grace = grace_seconds
        self._by_key: dict[ChainKey, list[_Held[Ticket]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = True

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def is_open(self) -> bool:
        """False once ``close()`` began: the caller answers gaps itself from then on."""
        return self._open

    def gap(self, key: ChainKey, first_seq: int) -> AppRecErrorCode | None:
        """The rejection for a message starting at ``first_seq`` if its gap is open now."""
        first_missing = self._book.first_missing_before(key, first_seq)
        return None if first_missing is None else gap_error(first_seq, first_missing)

    def hold(self, key: ChainKey, first_seq: int, ticket: Ticket) -> None:
        """Answer ``ticket`` once ``first_seq - 1`` of ``key`` is received, or at the latest
        after the grace period."""
        if not self._open:
            raise SimulatorError("no answer can be held once the simulator stops")
        held = _Held(key, first_seq, ticket)
        self._by_key.setdefault(key, []).append(held)
        task = asyncio.get_running_loop().create_task(self._wait(held))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wake(self, key: ChainKey) -> None:
        """Something was recorded in the chain of ``key``: release what it completes."""
        for held in self._by_key.get(key, ()):
            if self._book.received(key, held.first_seq - 1):
                held.closed.set()

    async def close(self) -> None:
        """Give every held answer now and wait until they are sent."""
        self._open = False
        for waiting in self._by_key.values():
            for held in waiting:
                held.closed.set()
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def _wait(self, held: _Held[Ticket]) -> None:
        try:
            async with asyncio.timeout(self._grace):
                await held.closed.wait()
        except TimeoutError:
            pass
        finally:
            self._forget(held)
        await self._answer(held.ticket, self.gap(held.key, held.first_seq))

    def _forget(self, held: _Held[Ticket]) -> None:
        waiting = self._by_key.get(held.key)
        if waiting is None:
            return
        waiting.remove(held)
        if not waiting:
            del self._by_key[held.key]
