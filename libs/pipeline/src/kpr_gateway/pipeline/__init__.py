"""kpr_gateway.pipeline: the internal bus between the services.

Queue topology, message contracts, retry and parking, trace context in headers; a RabbitMQ
implementation (FastStream, publisher confirms) and an in-memory one with the same semantics.
"""

from kpr_gateway.pipeline.bus import DEFAULT_PREFETCH, Bus
from kpr_gateway.pipeline.delivery import (
    ATTEMPT_HEADER,
    ORIGINAL_QUEUE_HEADER,
    PARK_REASON_HEADER,
    PARK_SERVICE_HEADER,
    Delivery,
    Handler,
)
from kpr_gateway.pipeline.errors import (
    BusError,
    PermanentError,
    PipelineError,
    PublishError,
    TransientError,
)
from kpr_gateway.pipeline.memory import MemoryBroker, MemoryBus, ParkedMessage
from kpr_gateway.pipeline.outcome import DEFAULT_MAX_ATTEMPTS
from kpr_gateway.pipeline.queues import (
    DEFAULT_RETRY_DELAYS,
    EVENTS,
    MESSAGES,
    OUTBOX,
    RECEIPTS,
    WORK_QUEUES,
    Topology,
)
from kpr_gateway.pipeline.rabbit import RabbitBus

__all__ = [
    "ATTEMPT_HEADER",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PREFETCH",
    "DEFAULT_RETRY_DELAYS",
    "EVENTS",
    "MESSAGES",
    "ORIGINAL_QUEUE_HEADER",
    "OUTBOX",
    "PARK_REASON_HEADER",
    "PARK_SERVICE_HEADER",
    "RECEIPTS",
    "WORK_QUEUES",
    "Bus",
    "BusError",
    "Delivery",
    "Handler",
    "MemoryBroker",
    "MemoryBus",
    "ParkedMessage",
    "PermanentError",
    "PipelineError",
    "PublishError",
    "RabbitBus",
    "Topology",
    "TransientError",
]
