"""Queue names and the topology declared for each work queue.

Per work queue ``q`` (names optionally prefixed, so tests and deployments can share a broker):

- ``q``: durable quorum queue; after ``delivery_limit`` redeliveries (a consumer that keeps
  crashing on a poison message) the broker dead-letters the message to ``q.parked``.
- ``q.retry.<n>``: one quorum queue per backoff step; no consumers, a message TTL, and
  dead-lettering back to ``q`` through the default exchange. This gives delayed retries
  without the delayed-message plugin.
- ``q.parked``: messages that will not succeed, kept for an operator.

Dead-lettering is at-least-once (needs ``x-overflow=reject-publish``) so a broker failure
between the two queues loses nothing. All services must agree on these arguments: RabbitMQ
refuses to re-declare a queue with different ones.

``receipts`` is bounded (``x-max-length``, ``RECEIPTS_MAX_LENGTH``): with ``reject-publish`` a
full queue refuses the publish (a nack), so receipts hands the AppRec back to NHN, where it
waits; nothing is dropped. A quorum queue takes ``x-max-length`` with the ``drop-head`` or
``reject-publish`` overflow (RabbitMQ 3.10 and later; it counts after it enqueues, so the
publish that passes the limit is taken and the next ones are refused), and a queue declared
before the limit existed must be deleted and declared again: RabbitMQ refuses changed
arguments.

``events`` has a single active consumer (DESIGN section 3: one replica owns a tenant's batch at
a time, so a batch is built once): however many transform replicas consume it, RabbitMQ
delivers to one, and the next takes over when that one goes away. Transform scales up, not
out; the other queues have competing consumers (their messages are independent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from kpr_gateway.pipeline.errors import BusError

EVENTS = "events"
MESSAGES = "messages"
OUTBOX = "outbox"
RECEIPTS = "receipts"
WORK_QUEUES: tuple[str, ...] = (EVENTS, MESSAGES, OUTBOX, RECEIPTS)

PARKED_SUFFIX = ".parked"
RETRY_INFIX = ".retry."

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
"""Seconds to wait before attempt 2, 3, ...; the last step repeats if attempts remain."""

DEFAULT_DELIVERY_LIMIT = 10

RECEIPTS_MAX_LENGTH = 100_000
"""Notices waiting on ``receipts`` before its publishes are refused. A notice is well under
1 KiB, so a full queue is under 100 MiB; the daily traffic is a few messages per tenant, so
reaching it means the webhooks service has not consumed for a long time (it is alerted on
long before, from ``kprgw_webhooks_queue_depth``)."""

DEFAULT_MAX_LENGTHS: Mapping[str, int] = {RECEIPTS: RECEIPTS_MAX_LENGTH}
"""Work queues with a length limit (the others are drained by the pipeline itself)."""

SINGLE_ACTIVE_CONSUMER: frozenset[str] = frozenset({EVENTS})
"""Work queues one consumer at a time reads (the others wait to take over)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MAX_NAME_BYTES = 255


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name) or name.startswith("amq."):
        raise BusError(f"{what} {name!r} is not a valid queue name")
    if len(name.encode()) > _MAX_NAME_BYTES:
        raise BusError(f"{what} {name!r} is longer than {_MAX_NAME_BYTES} bytes")
    return name


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue to declare: its full (prefixed) name and its quorum-queue arguments."""

    name: str
    arguments: Mapping[str, str | int | bool]


@dataclass(frozen=True, slots=True)
class RetryStep:
    """Retry queue ``number`` (1-based) and its delay; ``target`` is where it dead-letters to."""

    number: int
    queue: QueueSpec
    delay_seconds: float
    target: str


@dataclass(frozen=True, slots=True)
class WorkQueue:
    """A work queue with its retry steps and its parking queue (all names prefixed)."""

    logical: str
    queue: QueueSpec
    retries: tuple[RetryStep, ...]
    parked: QueueSpec

    def retry_step(self, failed_attempt: int) -> RetryStep:
        """The retry step after attempt ``failed_attempt`` (1-based) failed."""
        if failed_attempt < 1:
            raise BusError(f"attempt {failed_attempt} is not a valid attempt number")
        return self.retries[min(failed_attempt, len(self.retries)) - 1]

    def specs(self) -> Iterator[QueueSpec]:
        """Declaration order: dead-letter targets before the queues that point at them."""
        yield self.parked
        yield self.queue
        for step in self.retries:
            yield step.queue


class Topology:
    """The queues of the pipeline under a name prefix, with their retry schedule."""

    def __init__(
        self,
        queues: Iterable[str] = WORK_QUEUES,
        *,
        prefix: str = "",
        retry_delays: Iterable[float] = DEFAULT_RETRY_DELAYS,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        max_lengths: Mapping[str, int] = DEFAULT_MAX_LENGTHS,
    ) -> None:
        self.prefix = prefix
        self.retry_delays = tuple(retry_delays)
        if not self.retry_delays:
            raise BusError("the retry schedule needs at least one delay")
        if any(delay <= 0 for delay in self.retry_delays):
            raise BusError("retry delays must be positive")
        if delivery_limit < 1:
            raise BusError("the delivery limit must be at least 1")
        self.delivery_limit = delivery_limit
        if any(limit < 1 for limit in max_lengths.values()):
            raise BusError("a queue's length limit must be at least 1")
        self.max_lengths = dict(max_lengths)
        if prefix:
            _check_name(prefix, "prefix")
        self._work: dict[str, WorkQueue] = {}
        for logical in queues:
            _check_name(logical, "queue")
            self._work[logical] = self._build(logical)
        if not self._work:
            raise BusError("the topology needs at least one work queue")

    def physical(self, logical: str) -> str:
        """The broker's name for a logical queue name."""
        return _check_name(f"{self.prefix}.{logical}" if self.prefix else logical, "queue")

    def __contains__(self, logical: object) -> bool:
        return logical in self._work

    @property
    def queue_names(self) -> tuple[str, ...]:
        return tuple(self._work)

    def work_queue(self, logical: str) -> WorkQueue:
        try:
            return self._work[logical]
        except KeyError:
            raise BusError(f"queue {logical!r} is not part of the topology") from None

    def max_length(self, logical: str) -> int | None:
        """The work queue's length limit, None when it has none."""
        self.work_queue(logical)
        return self.max_lengths.get(logical)

    def specs(self) -> Iterator[QueueSpec]:
        """Every queue to declare, dead-letter targets first."""
        for work in self._work.values():
            yield from work.specs()

    def _build(self, logical: str) -> WorkQueue:
        name = self.physical(logical)
        parked = QueueSpec(_check_name(name + PARKED_SUFFIX, "queue"), {"x-queue-type": "quorum"})
        arguments: dict[str, str | int | bool] = {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": parked.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        if logical in SINGLE_ACTIVE_CONSUMER:
            arguments["x-single-active-consumer"] = True
        if logical in self.max_lengths:
            arguments["x-max-length"] = self.max_lengths[logical]
        queue = QueueSpec(name, arguments)
        retries = tuple(
            RetryStep(
                step,
                QueueSpec(
                    _check_name(f"{name}{RETRY_INFIX}{step}", "queue"),
                    {
                        "x-queue-type": "quorum",
                        "x-message-ttl": max(1, round(delay * 1000)),
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": name,
                        "x-dead-letter-strategy": "at-least-once",
                        "x-overflow": "reject-publish",
                    },
                ),
                delay,
                name,
            )
            for step, delay in enumerate(self.retry_delays, start=1)
        )
        return WorkQueue(logical, queue, retries, parked)
