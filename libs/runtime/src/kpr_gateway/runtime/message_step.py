"""A service's step in a KPR message's life, as the ledger records it (envelope, dispatch).

Every stage checks the ledger first and only moves a record forward: a redelivered message
that the ledger has at the stage's ``skip_from`` state or beyond is skipped (logged, counted
in ``kprgw_<service>_skipped_total``, acknowledged). What the ledger answers becomes the
service's own errors, so that each service keeps its one exception root: an unreachable
ledger its transient error (retried), a message the ledger never recorded its permanent
error (parked for an operator).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kpr_gateway.ledger import Ledger, LedgerUnavailableError, MessageState, UnknownMessageError
from kpr_gateway.ledger.states import MESSAGE_RANK
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.observability.tracing import current_trace_id
from kpr_gateway.pipeline.errors import PermanentError, TransientError


@dataclass(frozen=True, slots=True)
class LedgerErrors:
    """The service's own error classes for what the ledger answers."""

    down: type[TransientError]
    """The ledger could not be reached: the delivery is retried."""
    unknown_message: type[PermanentError]
    """The ledger has no record of the message: the delivery is parked."""


class MessageStep:
    """The ledger pre-check and the forward move of one service's step."""

    def __init__(
        self,
        ledger: Ledger,
        metrics: ServiceMetrics,
        *,
        skip_from: MessageState,
        errors: LedgerErrors,
        log: logging.Logger,
    ) -> None:
        self._ledger = ledger
        self._skip_from = skip_from
        self._errors = errors
        self._log = log  # the service's own, so the skip reads as the service's log line
        self._skipped = metrics.counter(
            "skipped",
            f"Deliveries skipped because the ledger had the message {skip_from} already.",
            ("tenant",),
        )

    async def should_skip(self, tenant_id: str, msg_id: str) -> bool:
        """True (logged and counted) when the ledger has the message at ``skip_from`` or
        beyond: the delivery is then acknowledged without doing the step again."""
        with self.reaching_ledger(msg_id):
            record = await self._ledger.get_message(tenant_id, msg_id)
        if record is None:
            raise self._errors.unknown_message(
                f"tenant {tenant_id}: no KPR message {msg_id} in the ledger"
            )
        if MESSAGE_RANK[record.state] < MESSAGE_RANK[self._skip_from]:
            return False
        self._log.info(
            "message %s of tenant %s is %s already; skipped", msg_id, tenant_id, self._skip_from
        )
        self._skipped.labels(tenant=tenant_id).inc()
        return True

    async def advance(
        self,
        tenant_id: str,
        msg_id: str,
        state: MessageState,
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Move the message forward to ``state``, in the current trace."""
        with self.reaching_ledger(msg_id):
            try:
                await self._ledger.advance_message(
                    tenant_id, msg_id, state, trace_id=current_trace_id(), detail=detail
                )
            except UnknownMessageError as exc:
                raise self._errors.unknown_message(str(exc)) from exc

    @contextmanager
    def reaching_ledger(self, msg_id: str) -> Iterator[None]:
        """Around any other ledger call of the step: unreachable means retry."""
        try:
            yield
        except LedgerUnavailableError as exc:
            raise self._errors.down(f"ledger unreachable for message {msg_id}") from exc
