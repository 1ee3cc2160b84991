"""Pacing the backfill by KPR messages rather than by requests.

transform gathers a tenant's events for up to ``max_batch_age_seconds`` (2 s by default) or
``max_batch_events`` (5,000) and builds one KPR message per batch, split in two when it would
exceed ``max_message_bytes`` (1 MB). So the backfill sends a *burst* of ``events_per_message``
events (as one or more requests, at once) and then waits, so that at most
``messages_per_minute`` bursts start in any minute: each burst becomes one message, and the
receiving queue sees at most that many messages per minute from this file.

``events_per_message`` defaults to 1,500. A notification takes 583 to 719 bytes in the MsgHead
of a daily message (about 620 for typical ones: a person with a district, a provider org
number on some kinds), measured with ``iplos_kpr`` 56.0.0; 1 MB then holds 1,390 to 1,710
notifications, about 1,600 typically. 1,500 fills most of a message without tipping typical
data over the limit (which would split the burst into a full message and a small one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Final

DEFAULT_EVENTS_PER_MESSAGE: Final = 1_500
DEFAULT_MESSAGES_PER_MINUTE: Final = 10.0


def events_per_minute(messages_per_minute: float, events_per_message: int) -> float:
    """The event rate the throttle allows: messages per minute times events per message."""
    return messages_per_minute * events_per_message


def batch_sizes(batch_size: int, burst: int | None) -> Iterator[int]:
    """Request sizes that never straddle a burst: e.g. 1000, 500, 1000, 500, ... for batches
    of 1,000 and bursts of 1,500; ``batch_size`` forever without a burst."""
    while True:
        if burst is None:
            yield batch_size
            continue
        left = burst
        while left > 0:
            size = min(batch_size, left)
            yield size
            left -= size


class Throttle:
    """At most ``messages_per_minute`` bursts begin in any minute: a burst begins no sooner than
    ``60 / messages_per_minute`` seconds after the one before it. A run that is slower than
    that never waits, and never catches up in a rush after a slow stretch."""

    def __init__(
        self,
        messages_per_minute: float,
        events_per_message: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if messages_per_minute <= 0 or events_per_message <= 0:
            raise ValueError("messages per minute and events per message must be positive")
        self.events_per_message = events_per_message
        self.interval = 60.0 / messages_per_minute
        self._clock = clock
        self._next: float | None = None

    def delay(self) -> float:
        """Seconds to wait before the next burst begins; reserves its slot."""
        now = self._clock()
        if self._next is None or self._next < now:
            self._next = now
        wait = self._next - now
        self._next += self.interval
        return wait
