"""The SERVER span: named by route template, continues the caller's trace, has the status."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kpr_gateway.intake.tracing import ServerSpanMiddleware

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def show(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["event_id"]}, status_code=202)


async def test_span_per_request_without_ids_in_its_name() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = Starlette(routes=[Route("/v1/events/{event_id}", show)])
    app.add_middleware(ServerSpanMiddleware, tracer_provider=provider)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as client:
        answer = await client.get(
            "/v1/events/12345678901",
            headers={"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"},
        )
        assert answer.status_code == 202
        assert (await client.get("/nowhere")).status_code == 404
    first, second = exporter.get_finished_spans()
    assert first.name == "GET /v1/events/{event_id}"
    assert first.kind is SpanKind.SERVER
    assert first.context is not None
    assert format(first.context.trace_id, "032x") == CALLER_TRACE
    assert first.attributes is not None
    assert first.attributes["http.response.status_code"] == 202
    assert second.name == "GET unmatched"
    assert second.attributes is not None
    assert second.attributes["http.response.status_code"] == 404
