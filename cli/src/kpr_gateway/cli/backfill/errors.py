"""Errors of ``kprgw backfill``: one root; texts name lines, statuses and fields, never values."""

from __future__ import annotations


class BackfillError(Exception):
    """Root of every error raised by the backfill."""


class BackfillStoppedError(BackfillError):
    """The API answered in a way that retrying will not mend (or retries ran out): the run
    stops; the state file lets the next run go on from the last acknowledged batch."""


class StateMismatchError(BackfillError):
    """The state file belongs to another file, tenant or URL, or cannot be read."""
