"""Errors of kpr_gateway.pipeline.

Two families under one root: what a handler raises to steer its message (``PermanentError``,
``TransientError``) and what the bus raises about itself (``BusError``, ``PublishError``).
Reasons end up in the ``x-park-reason`` header, logs and spans, so they are written by our
code and name ids and positions only, never personal data.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error raised by kpr_gateway.pipeline."""


class _HandlerError(PipelineError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentError(_HandlerError):
    """The message can never succeed (bad input, bad signature): park it, do not retry."""


class TransientError(_HandlerError):
    """The message may succeed later (a dependency is down): retry with backoff."""


class BusError(PipelineError):
    """The bus cannot do what was asked: not started, broker unreachable, topology conflict."""


class PublishError(BusError):
    """A publish was not confirmed: refused (nack), unroutable (returned), or timed out."""
