"""Graceful shutdown on SIGTERM/SIGINT: a flag for ``/readyz`` and an event to wait on.

The order a service follows once ``wait()`` returns (Kubernetes sends SIGTERM, then SIGKILL
after the pod's grace period; everything below must fit inside it):

1. Draining starts by itself: ``/readyz`` answers 503, so no new work is routed here.
   An HTTP service (intake) keeps serving for a few seconds more, until the endpoint
   removal has reached the load balancers (a preStop sleep in the chart does the same).
2. Stop consuming and finish in-flight work: ``await bus.stop()``; in-flight handlers
   complete and ack (or are retried by the broker if they cannot finish).
3. Flush traces: ``await asyncio.to_thread(tracer_provider.shutdown)``.
4. Stop the health server and return from ``main``; the process exits 0.

A second signal while draining gives up on the drain: the handlers in place before
``install()`` are put back and the signal is raised again, so its usual effect (exit for
SIGTERM, KeyboardInterrupt for SIGINT) happens at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any, Self

from kpr_gateway.observability.errors import ObservabilityError

_log = logging.getLogger(__name__)

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class GracefulShutdown:
    """Turns the first SIGTERM or SIGINT into ``draining = True`` and a set event.

    Install inside the running loop (``install()`` or ``async with``); ``uninstall()`` puts
    back the handlers that were there before.
    """

    def __init__(self, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self._signals = tuple(signals)
        self._event = asyncio.Event()
        self._received: signal.Signals | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, _SignalHandler] = {}

    @property
    def draining(self) -> bool:
        """True once shutdown was asked for (by a signal or ``request()``)."""
        return self._event.is_set()

    @property
    def received_signal(self) -> signal.Signals | None:
        """The signal that started the drain, or None (not yet, or started by ``request()``)."""
        return self._received

    def install(self) -> None:
        if self._loop is not None:
            raise ObservabilityError("shutdown signal handlers are already installed")
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            self._previous[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._loop = loop

    def uninstall(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for sig, previous in self._previous.items():
            loop.remove_signal_handler(sig)
            if previous is not None:  # None: set outside Python, nothing we can put back
                signal.signal(sig, previous)
        self._previous.clear()

    def request(self) -> None:
        """Start draining without a signal (the embedded mode, tests, an admin command)."""
        if not self.draining:
            _log.info("shutdown requested: draining")
        self._event.set()

    async def wait(self) -> None:
        """Return once draining has started."""
        await self._event.wait()

    async def __aenter__(self) -> Self:
        self.install()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstall()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.draining:
            _log.warning("%s again while draining: stopping at once", sig.name)
            self.uninstall()
            signal.raise_signal(sig)
            return
        _log.info("%s received: draining", sig.name)
        self._received = sig
        self._event.set()
