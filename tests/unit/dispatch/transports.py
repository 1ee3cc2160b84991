"""NHN transports that fail the way a broker fails: the in-memory Tjenestebuss underneath,
with refused or never-settled sends in front."""

from __future__ import annotations

import asyncio

from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport, NhnMessage, NhnSendError


class FlakyTransport(InMemoryNhnTransport):
    """The in-memory Tjenestebuss refusing the first ``failures`` sends, as NHN's broker
    does while a link is detached; every send it was given is kept in ``attempts``."""

    def __init__(self, broker: InMemoryNhnBroker, *, failures: int = 0) -> None:
        super().__init__(broker)
        self.failures = failures
        self.attempts: list[NhnMessage] = []

    async def send(self, message: NhnMessage) -> None:
        self.attempts.append(message)
        if len(self.attempts) <= self.failures:
            raise NhnSendError(f"message {message.message_id} refused: link detached")
        await super().send(message)


class StallingTransport(FlakyTransport):
    """Never settles the first ``failures`` sends (a broker that stopped answering)."""

    async def send(self, message: NhnMessage) -> None:
        self.attempts.append(message)
        if len(self.attempts) <= self.failures:
            await asyncio.Event().wait()
        await InMemoryNhnTransport.send(self, message)
