"""Structured logs for the services: one JSON object per line on stderr, ids redacted.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``service``, ``logger``, ``message``,
``trace_id``/``span_id`` when a span is current, ``exception`` when one was logged, and any
``extra=`` values (use ledger ids there: tenant, msg_id, event_id; never personal data).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from json import dumps
from typing import Any, Final, TextIO

from kpr_gateway.observability.errors import ConfigurationError
from kpr_gateway.observability.log_redaction import STANDARD_RECORD_ATTRIBUTES, RedactingLogFilter
from kpr_gateway.observability.tracing import current_span_id, current_trace_id

# uvicorn adds an ANSI-coloured copy of its messages that only its own formatter uses.
_IGNORED_EXTRAS: Final = frozenset({"trace_id", "span_id", "color_message"})


class TraceContextLogFilter(logging.Filter):
    """Stamp the current trace and span ids on the record (empty strings outside a span).

    Runs at log time in the logging thread, which is where the OpenTelemetry context is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # setattr: these are extra attributes, unknown to LogRecord's type.
        setattr(record, "trace_id", current_trace_id() or "")  # noqa: B010
        setattr(record, "span_id", current_span_id() or "")  # noqa: B010
        return True


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "service": self._service_name,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("trace_id", "span_id"):
            value = getattr(record, key, "")
            if value:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in STANDARD_RECORD_ATTRIBUTES and key not in _IGNORED_EXTRAS:
                entry.setdefault(key, value)
        return dumps(entry, ensure_ascii=False, default=str)


class TextLogFormatter(logging.Formatter):
    """Human-readable lines for a terminal (``json=False``), with the trace id when there is one."""

    def __init__(self, service_name: str) -> None:
        super().__init__("%(asctime)s %(message)s")  # names asctime so that format() fills it
        self._service_name = service_name

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  # logging's name
        trace_id = getattr(record, "trace_id", "")
        trace_part = f" trace={trace_id}" if trace_id else ""
        return (
            f"{record.asctime} {record.levelname:<7} {self._service_name} {record.name}"
            f"{trace_part}: {record.message}"
        )


class ServiceLogHandler(logging.StreamHandler[TextIO]):
    """The one handler ``setup_logging`` keeps on the root logger."""


def setup_logging(
    service_name: str,
    level: int | str = "INFO",
    json: bool = True,
    *,
    stream: TextIO | None = None,
) -> ServiceLogHandler:
    """Send every log record through redaction to ``stream`` (stderr by default).

    Idempotent: a second call replaces the handler installed by the first, so a process
    never writes a line twice. Other handlers on the root logger are left alone.
    """
    handler = ServiceLogHandler(sys.stderr if stream is None else stream)
    handler.addFilter(RedactingLogFilter())
    handler.addFilter(TraceContextLogFilter())
    handler.setFormatter(JsonLogFormatter(service_name) if json else TextLogFormatter(service_name))
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, ServiceLogHandler)]:
        root.removeHandler(existing)
        existing.close()
    root.addHandler(handler)
    root.setLevel(_level(level))
    return handler


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    mapping = logging.getLevelNamesMapping()
    try:
        return mapping[level.strip().upper()]
    except KeyError:
        raise ConfigurationError(
            f"unknown log level {level!r}; use one of {sorted(mapping)}"
        ) from None


def _utc_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
