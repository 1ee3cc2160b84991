"""The checks both buses make before they take a call, and the headers a publish or park
carries, so that RabbitBus and MemoryBus refuse the same things in the same words."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Final, Literal

from kpr_gateway.pipeline.delivery import application_headers
from kpr_gateway.pipeline.errors import BusError
from kpr_gateway.pipeline.outcome import parking_headers

BusState = Literal["new", "starting", "started", "stopping", "stopped"]

# While stopping, handlers still in flight publish their outputs (and retry or park copies).
_SENDING: Final[frozenset[BusState]] = frozenset({"started", "stopping"})


def check_subscribe(
    state: BusState, queue: str, *, prefetch: int, subscribed: Container[str]
) -> None:
    """A queue gets its one handler before the bus starts, with a prefetch of at least 1."""
    if state != "new":
        raise BusError("subscribe before the bus is started")
    if prefetch < 1:
        raise BusError("prefetch must be at least 1")
    if queue in subscribed:
        raise BusError(f"queue {queue!r} already has a handler on this bus")


def check_start(state: BusState) -> None:
    if state != "new":
        raise BusError("the bus was already started")


def _check_sending(state: BusState) -> None:
    if state not in _SENDING:
        raise BusError("the bus is not running")


def publish_headers(
    state: BusState, *, message_id: str, headers: Mapping[str, str] | None
) -> dict[str, str]:
    """Checks a publish; the headers it carries: the caller's, less the bus's own ``x-``."""
    _check_sending(state)
    if not message_id:
        raise BusError("a message id is required")
    return application_headers(headers or {})


def park_headers_from_outside(
    state: BusState, *, headers: Mapping[str, str] | None, reason: str, service: str, queue: str
) -> dict[str, str]:
    """Checks a ``Bus.park``; the headers of its parked copy (the caller's, plus why, who
    and where from)."""
    _check_sending(state)
    return parking_headers(headers or {}, reason=reason, service=service, queue=queue)
