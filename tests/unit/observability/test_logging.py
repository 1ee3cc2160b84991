from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kpr_gateway.observability import (
    REDACTED_ID,
    ConfigurationError,
    RedactingLogFilter,
    setup_logging,
    setup_tracing,
)
from kpr_gateway.observability.logging import ServiceLogHandler

FNR = "01017012345"


class Unprintable:
    def __str__(self) -> str:
        return f"person {FNR}"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with one handler that redacts and formats like the standard formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingLogFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(detail)s"))
    logger = logging.getLogger("kprgw.test.redaction")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Restore the root logger after tests that call setup_logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_filter_redacts_string_int_and_mapping_arguments(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("fnr %s", FNR, extra={"detail": "-"})
    logger.info("as int %d", int("41017012345"), extra={"detail": "-"})
    logger.info("%(who)s seen", {"who": FNR}, extra={"detail": "-"})
    lines = stream.getvalue().splitlines()
    assert lines == [
        f"INFO fnr {REDACTED_ID} -",
        f"INFO as int {REDACTED_ID} -",
        f"INFO {REDACTED_ID} seen -",
    ]


def test_filter_redacts_exceptions_and_their_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"no such person {FNR}")
    except ValueError:
        logger.exception("lookup of %s failed", FNR, extra={"detail": "-"})
    output = stream.getvalue()
    assert FNR not in output
    assert f"ValueError: no such person {REDACTED_ID}" in output
    assert "Traceback (most recent call last)" in output


def test_filter_redacts_extras_stack_and_leaves_the_record_without_raw_parts(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keeper = Keep()
    logger.addHandler(keeper)  # runs after the redacting handler, sees the same record
    try:
        detail = {"detail": Unprintable()}
        logger.warning("at 01017012345", extra=detail, stack_info=True)  # this line is in the stack
    finally:
        logger.removeHandler(keeper)
    [record] = records
    assert record.args is None
    assert record.exc_info is None
    assert record.stack_info is not None
    assert f'logger.warning("at {REDACTED_ID}"' in record.stack_info
    assert getattr(record, "detail") == f"person {REDACTED_ID}"  # noqa: B009
    assert FNR not in stream.getvalue()


def test_filter_keeps_a_record_whose_arguments_do_not_fit(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.error("%s and %s", FNR, extra={"detail": "-"})
    output = stream.getvalue()
    assert FNR not in output
    assert "did not fit" in output


def test_setup_logging_writes_one_json_line_per_record(root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("transform", "DEBUG", stream=stream)
    log = logging.getLogger("kprgw.test.json")
    log.debug("batch built for tenant %s", "bergen", extra={"msg_id": "m-1", "count": 3})
    try:
        raise RuntimeError(f"bad {FNR}")
    except RuntimeError:
        log.exception("failed for %s", FNR)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "DEBUG"
    assert first["service"] == "transform"
    assert first["logger"] == "kprgw.test.json"
    assert first["message"] == "batch built for tenant bergen"
    assert first["msg_id"] == "m-1"
    assert first["count"] == 3
    assert first["time"].endswith("Z")
    assert "trace_id" not in first
    assert second["message"] == f"failed for {REDACTED_ID}"
    assert f"RuntimeError: bad {REDACTED_ID}" in second["exception"]
    assert FNR not in stream.getvalue()


def test_json_lines_carry_the_current_trace(root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("intake", stream=stream)
    provider = setup_tracing("intake", exporter=InMemorySpanExporter(), set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("post") as span:
        logging.getLogger("kprgw.test.trace").info("accepted")
    provider.shutdown()
    entry = json.loads(stream.getvalue())
    context = span.get_span_context()
    assert entry["trace_id"] == trace.format_trace_id(context.trace_id)
    assert entry["span_id"] == trace.format_span_id(context.span_id)


def test_setup_logging_is_idempotent_and_respects_the_level(root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("envelope", stream=stream)
    setup_logging("envelope", "WARNING", stream=stream)
    ours = [h for h in logging.getLogger().handlers if isinstance(h, ServiceLogHandler)]
    assert len(ours) == 1
    log = logging.getLogger("kprgw.test.idempotent")
    log.info("hidden")
    log.warning("shown once")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "shown once"
    ]


def test_text_format_for_terminals(root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("demo", json=False, stream=stream)
    provider = setup_tracing("demo", exporter=InMemorySpanExporter(), set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("s") as span:
        logging.getLogger("kprgw.test.text").info("person %s", FNR)
    provider.shutdown()
    line = stream.getvalue().rstrip("\n")
    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    assert line.endswith(f"INFO    demo kprgw.test.text trace={trace_id}: person {REDACTED_ID}")


def test_unknown_level_is_a_configuration_error(root_logging: None) -> None:
    with pytest.raises(ConfigurationError, match="unknown log level"):
        setup_logging("intake", "LOUD")
