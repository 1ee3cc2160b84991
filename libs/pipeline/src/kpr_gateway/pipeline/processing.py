"""Running a handler on one delivery: the span, the decision, and carrying it out.

Shared by both buses; each passes its own ``settle`` to carry out the outcome (acknowledge,
republish to a retry queue, or park), which runs inside the consumer span so that the
republished copy continues the same trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from opentelemetry import trace

from kpr_gateway.pipeline.delivery import Delivery, Handler
from kpr_gateway.pipeline.errors import PipelineError
from kpr_gateway.pipeline.outcome import Ack, Outcome, Park, Retry, decide
from kpr_gateway.pipeline.tracing import OUTCOME_ATTRIBUTE, consumer_span, mark_failed

log = logging.getLogger("kpr_gateway.pipeline")

Settle = Callable[[Outcome], Awaitable[None]]


def outcome_name(outcome: Outcome) -> str:
    match outcome:
        case Ack():
            return "ack"
        case Retry():
            return "retry"
        case Park():
            return "park"


async def process(
    delivery: Delivery,
    handler: Handler,
    settle: Settle,
    *,
    tracer: trace.Tracer,
    system: str,
    max_attempts: int,
) -> Outcome:
    """Run ``handler`` in a CONSUMER span, decide the outcome, then ``settle`` it."""
    with consumer_span(tracer, delivery, system=system) as span:
        try:
            await handler(delivery)
        except Exception as error:  # every failure is decided on, none escapes
            outcome = decide(error, attempt=delivery.attempt, max_attempts=max_attempts)
            if not isinstance(error, PipelineError):
                # A bug, not a decision: the traceback goes to the log (the log filter
                # redacts anything shaped like a national id), never to headers or spans.
                log.error("unexpected error handling %s", delivery.message_id, exc_info=error)
        else:
            outcome = decide(None, attempt=delivery.attempt, max_attempts=max_attempts)
        span.set_attribute(OUTCOME_ATTRIBUTE, outcome_name(outcome))
        if isinstance(outcome, Retry | Park):
            mark_failed(span, outcome.reason)
            log.warning(
                "message %s on %s attempt %d: %s (%s)",
                delivery.message_id,
                delivery.queue,
                delivery.attempt,
                outcome_name(outcome),
                outcome.reason,
            )
        await settle(outcome)
    return outcome
