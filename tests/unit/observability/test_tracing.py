from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kpr_gateway.observability import (
    REDACTED_ID,
    ConfigurationError,
    current_span_id,
    current_trace_id,
    setup_tracing,
)

FNR = "01017012345"


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_") or name == "KPRGW_TRACES_CONSOLE":
            monkeypatch.delenv(name)


class OtlpReceiver:
    """A real OTLP/HTTP endpoint on localhost that keeps the trace requests it gets."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                if self.path == "/v1/traces":
                    receiver.requests.append(request)
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def span_names(self) -> list[str]:
        return [
            span.name
            for request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_in_memory_exporter_and_resource() -> None:
    memory = InMemorySpanExporter()
    provider = setup_tracing("transform", exporter=memory, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("build"):
        pass
    # Simple processor: exported as soon as the span ends, before any flush.
    [span] = memory.get_finished_spans()
    assert span.resource.attributes["service.name"] == "transform"
    provider.shutdown()


def test_otel_service_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "transform-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    provider = setup_tracing("transform", set_global=False)
    assert provider.resource.attributes["service.name"] == "transform-eu"
    assert provider.resource.attributes["deployment.environment"] == "test"
    provider.shutdown()


def test_current_ids_inside_and_outside_a_span() -> None:
    provider = setup_tracing("t", exporter=InMemorySpanExporter(), set_global=False)
    assert current_trace_id() is None
    assert current_span_id() is None
    with provider.get_tracer(__name__).start_as_current_span("s") as span:
        context = span.get_span_context()
        assert current_trace_id() == f"{context.trace_id:032x}"
        assert current_span_id() == f"{context.span_id:016x}"
    provider.shutdown()


def test_console_exporter_prints_redacted_spans(capsys: pytest.CaptureFixture[str]) -> None:
    provider = setup_tracing("envelope", console=True, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span(f"seal for {FNR}"):
        pass
    provider.shutdown()
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == f"seal for {REDACTED_ID}"
    assert printed["resource"]["attributes"]["service.name"] == "envelope"


def test_console_exporter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KPRGW_TRACES_CONSOLE", "1")
    provider = setup_tracing("dispatch", set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("send"):
        pass
    provider.shutdown()
    assert json.loads(capsys.readouterr().out)["name"] == "send"


def test_no_exporter_without_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    provider = setup_tracing("receipts", set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("s") as span:
        assert span.is_recording()  # still traced: context propagates even with no exporter
    provider.shutdown()
    assert capsys.readouterr().out == ""


def test_sdk_disabled_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    memory = InMemorySpanExporter()
    provider = setup_tracing("intake", exporter=memory, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("s") as span:
        assert not span.is_recording()
    provider.shutdown()
    assert memory.get_finished_spans() == ()


def test_otlp_endpoint_exports_redacted_spans_over_http(
    monkeypatch: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.url)
    provider = setup_tracing("intake", set_global=False)
    with provider.get_tracer(__name__).start_as_current_span(f"post {FNR}"):
        pass
    provider.shutdown()  # flushes the batch processor
    assert otlp_receiver.span_names() == [f"post {REDACTED_ID}"]
    [resource_spans] = otlp_receiver.requests[0].resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "intake"


def test_traces_endpoint_alone_selects_otlp(
    monkeypatch: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp_receiver.url}/v1/traces")
    provider = setup_tracing("intake", set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("post"):
        pass
    provider.shutdown()
    assert otlp_receiver.span_names() == ["post"]


def test_traces_exporter_none_turns_otlp_off(
    monkeypatch: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.url)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    provider = setup_tracing("intake", set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("post"):
        pass
    provider.shutdown()
    assert otlp_receiver.requests == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin", "unsupported exporters"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "is not supported"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", "is not supported"),
    ],
)
def test_unsupported_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        setup_tracing("intake", set_global=False)


def test_default_installs_the_global_provider() -> None:
    # The global provider can be set once per process, so this runs in a fresh one.
    script = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from kpr_gateway.observability import current_trace_id, setup_tracing\n"
        "memory = InMemorySpanExporter()\n"
        "provider = setup_tracing('svc', exporter=memory)\n"
        "assert trace.get_tracer_provider() is provider\n"
        "with trace.get_tracer('x').start_as_current_span('s'):\n"
        "    assert current_trace_id() is not None\n"
        "provider.shutdown()\n"
        "assert [s.name for s in memory.get_finished_spans()] == ['s']\n"
        "print('ok')\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
