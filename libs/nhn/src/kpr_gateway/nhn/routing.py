"""Several NHN connections behind one NhnTransport: one per credential set.

NHN gives each communication party its own account on the Tjenestebuss, so a gateway for many
municipalities holds one connection per account (DESIGN section 5: one persistent connection
per credential set). Dispatch and receipts keep talking to one transport; this one picks the
connection: a message goes out over the connection of its sender (``fromHerId``), a queue is
read over the connection of the party whose queue it is. Senders and queues nobody claims use
the default connection, if there is one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from kpr_gateway.nhn.errors import NhnError, NhnSendError
from kpr_gateway.nhn.transport import NhnHandler, NhnTransport
from kpr_gateway.nhn.wire import NhnMessage

_log = logging.getLogger(__name__)


class RoutedTransport:
    """The NhnTransport protocol over named connections (names are not secrets: tenant ids)."""

    def __init__(
        self,
        connections: Mapping[str, NhnTransport],
        *,
        senders: Mapping[str, str],
        queues: Mapping[str, str],
        default: str | None = None,
    ) -> None:
        named = set(connections)
        unknown = ({default} - {None}) | set(senders.values()) | set(queues.values())
        if not named:
            raise NhnError("no NHN connection to route to")
        if missing := sorted(str(name) for name in unknown - named):
            raise NhnError(f"routes name unknown NHN connections: {', '.join(missing)}")
        self._connections = dict(connections)
        self._senders = dict(senders)
        self._queues = dict(queues)
        self._default = default

    @property
    def connection_names(self) -> list[str]:
        return sorted(self._connections)

    async def start(self) -> None:
        """Start every connection; if one cannot start, stop the others and raise its error."""
        started: list[NhnTransport] = []
        try:
            for name, connection in self._connections.items():
                try:
                    await connection.start()
                except NhnError as exc:
                    raise NhnError(f"NHN connection {name}: {exc}") from exc
                started.append(connection)
        except BaseException:
            for connection in reversed(started):
                await connection.stop()
            raise

    async def stop(self) -> None:
        """Stop every connection (all drain at once), even if one of them fails to stop."""
        results = await asyncio.gather(
            *(connection.stop() for connection in self._connections.values()),
            return_exceptions=True,
        )
        problems = [r for r in results if isinstance(r, BaseException)]
        for problem in problems:
            _log.warning("stopping an NHN connection failed: %s", type(problem).__name__)
        if problems:
            raise problems[0]

    async def send(self, message: NhnMessage) -> None:
        name = self._senders.get(message.from_her_id, self._default)
        if name is None:
            raise NhnSendError(f"no NHN connection for sender HER-id {message.from_her_id}")
        await self._connections[name].send(message)

    def subscribe(self, queue: str, handler: NhnHandler, *, credit: int = 10) -> None:
        name = self._queues.get(queue, self._default)
        if name is None:
            raise NhnError(f"no NHN connection for queue {queue}")
        self._connections[name].subscribe(queue, handler, credit=credit)

    async def ping(self) -> bool:
        """Ready only when every connection is: a tenant without its connection sends nothing."""
        answers = await asyncio.gather(*(c.ping() for c in self._connections.values()))
        return all(answers)
