"""A logging filter that removes national ids from log records before any handler formats them.

Attach it to *handlers*, not loggers: a logger's filters do not see records propagated from
its children. ``setup_logging`` does this for its own handler. The record is changed in place,
so handlers that run after this filter see only the redacted text.
"""

from __future__ import annotations

import logging
import traceback
from typing import Final

from kpr_gateway.observability.redaction import redact, redact_value

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
STANDARD_RECORD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


class RedactingLogFilter(logging.Filter):
    """Render each record's message, exception and ``extra`` values, and redact them.

    The message is rendered with its arguments first (an int argument can be an id just as
    well as a string), then stored as the record's whole message with no arguments left.
    The exception is rendered into ``exc_text`` and ``exc_info`` dropped, so no formatter can
    render the raw exception text again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(_rendered_message(record))
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in STANDARD_RECORD_ATTRIBUTES:
                setattr(record, key, redact_value(value))
        return True


def _rendered_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not cost us the record (nor leak its args)
        return f"{record.msg} (arguments did not fit the message format: {record.args!r})"
