"""What the asyncio side and the proton thread of AmqpNhnTransport hand each other.

Plain Python only: no proton object crosses between the two threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from kpr_gateway.nhn.amqp_endpoint import AmqpEndpoint
from kpr_gateway.nhn.errors import NhnSendError
from kpr_gateway.nhn.wire import NhnMessage


class Settlement(Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    endpoint: AmqpEndpoint
    container_id: str
    ca_file: str | None = None
    connect_timeout: float = 10.0
    heartbeat: float = 30.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    verify_queues: bool = False
    close_timeout: float = 5.0


class WorkerEvents(Protocol):
    """Called on the proton thread; implementations hand over to their own thread."""

    def connection_changed(
        self, connected: bool, problem: str | None, *, login_refused: bool = False
    ) -> None: ...

    def delivered(self, subscription: int, key: int, message: NhnMessage) -> None: ...


@dataclass(eq=False, slots=True)
class OutgoingSend:
    """One send: made by the caller's thread, completed exactly once by the worker."""

    message: NhnMessage
    complete: Callable[[NhnSendError | None], None]
    abandoned: bool = False  # the caller gave up waiting; never write it after that
    done: bool = False

    def finish(self, error: NhnSendError | None) -> None:
        if not self.done:
            self.done = True
            self.complete(error)
