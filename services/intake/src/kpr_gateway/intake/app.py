"""intake: the HTTP API for EPJ systems, and its wiring to the ledger and the bus."""

# No "from __future__ import annotations": FastAPI reads the Depends() in the route
# signatures at run time, and they refer to a dependency local to create_app.

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from pydantic import BaseModel

from kpr_gateway.intake.access import Gatekeeper
from kpr_gateway.intake.annual_api import AnnualOptions, AnnualSubmitter, register_annual_routes
from kpr_gateway.intake.audit import AuditLog, ForeignIds
from kpr_gateway.intake.auth import Authenticator, Caller
from kpr_gateway.intake.errors import (
    ConflictError,
    IntakeError,
    NotFoundError,
    UnavailableError,
)
from kpr_gateway.intake.http_body import (
    BatchEntry,
    parse_batch,
    parse_json,
    read_body,
    validate_event,
)
from kpr_gateway.intake.jwks import JwksCache
from kpr_gateway.intake.oauth import TokenVerifier
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.intake.schemas import (
    BatchResult,
    ErrorBody,
    EventAccepted,
    EventStatus,
    MessageStatus,
)
from kpr_gateway.intake.settings import IntakeSettings
from kpr_gateway.intake.submission import Accepted, SubmitOutcome, Submitter
from kpr_gateway.intake.tracing import ServerSpanMiddleware
from kpr_gateway.ledger import KeySpace, Ledger, LedgerError
from kpr_gateway.messages.iplos_kpr import Notification, describe_error_entries
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.observability.tracing import current_trace_id, current_traceparent
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.runtime import ServiceContext, WorkSource
from kpr_gateway.tenancy import TenantsFile
from kpr_gateway.tenancy.model import Scope

SERVICE_NAME = "intake"
_log = logging.getLogger(__name__)
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
_tracer = trace.get_tracer("kpr_gateway.intake")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_batch_events: int
    max_body_bytes: int
    chunk_events: int


def create_app(  # noqa: PLR0915 (the route handlers are its body)
    *,
    tenants: TenantsFile,
    ledger: Ledger,
    bus: Bus,
    limiter: RateLimiter,
    limits: IntakeLimits,
    metrics: ServiceMetrics,
    tokens: TokenVerifier | None = None,
    keys: KeySpace | None = None,
    annual: AnnualOptions | None = None,
) -> FastAPI:
    """The intake API; the same app serves in production and in the embedded mode. It has no
    health or metrics routes: the runtime serves those on the ops port, apart from the API.

    ``tokens`` turns on OAuth2 bearer tokens beside API keys; ``keys`` is the ledger's key
    space (to notice, and audit, reads of ids that belong to another tenant).
    """
    app = FastAPI(
        # Our ServerSpanMiddleware makes the one SERVER span per request and ServiceMetrics
        # the metrics; FastAPI's own telemetry would add a second span set per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="KPR Gateway intake",
        version="1.0.0",
        description=(
            "Submit notifications about service events (IPLOS i KPR: service start and end, "
            "provider changed, temporary stop from and to, with corrections) for your "
            "municipality and read their status. Authenticate with "
            "`Authorization: Bearer <API key>` or, where the gateway trusts an OAuth2 issuer, "
            "`Authorization: Bearer <access token>`. An event "
            "is accepted (202) only once it is in the ledger and on the durable queue."
        ),
        responses=_ERRORS,
    )
    authenticator = Authenticator(tenants, tokens=tokens)
    submitter = Submitter(ledger, bus, chunk_events=limits.chunk_events)
    events_counter = metrics.counter(
        "events", "Events submitted, by tenant and outcome.", ("tenant", "outcome")
    )
    audit = AuditLog(
        counter=metrics.counter("audit", "Audit records written, by kind.", ("event",))
    )
    foreign = ForeignIds(ledger, keys or KeySpace(), [t.id for t in tenants.tenants])

    app.add_middleware(ServerSpanMiddleware)
    _install_error_answers(app)

    gate = Gatekeeper(authenticator, limiter, audit, foreign)
    # The submit routes admit the caller themselves (they have no path parameters to check
    # first): FastAPI's dependency solving was a measurable part of a single event's cost.
    reading = gate.caller_with(Scope.READ)

    event_schema = _schema_with_components(app, Notification)

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=EventAccepted,
        summary="Submit one event",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": event_schema}},
            }
        },
    )
    async def submit_event(request: Request) -> Response:
        who = await gate.admit(request, request.headers.get("authorization"), Scope.SUBMIT)
        body = await read_body(request, limits.max_body_bytes)
        event = validate_event(parse_json(body, "body"))
        trace_id = current_trace_id() or uuid.uuid4().hex
        (outcome,) = await submitter.submit(
            who.tenant.id,
            [event],
            trace_id=trace_id,
            traceparent=current_traceparent(),
            client_id=who.client_id,
        )
        if not isinstance(outcome, Accepted):
            events_counter.labels(tenant=who.tenant.id, outcome="conflict").inc()
            raise ConflictError(f"event {outcome.event_id} was submitted before with other content")
        events_counter.labels(tenant=who.tenant.id, outcome="accepted").inc()
        # The answer is already an EventAccepted: handing FastAPI a ready response spares it
        # validating the model a second time (the hot path; response_model documents it).
        return Response(_accepted(outcome, trace_id).model_dump_json(), 202, media_type=_JSON)

    @app.post(
        "/v1/events/batch",
        response_model=BatchResult,
        summary="Submit many events (JSON array or NDJSON); answered per event",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "array", "items": event_schema}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def submit_batch(request: Request) -> Response:
        who = await gate.admit(request, request.headers.get("authorization"), Scope.SUBMIT)
        body = await read_body(request, limits.max_body_bytes)
        entries = parse_batch(
            body, request.headers.get("content-type", ""), limits.max_batch_events
        )
        trace_id = current_trace_id() or uuid.uuid4().hex
        valid = [entry for entry in entries if entry.event is not None]
        outcomes = await submitter.submit(
            who.tenant.id,
            [e.event for e in valid if e.event is not None],
            trace_id=trace_id,
            traceparent=current_traceparent(),
            client_id=who.client_id,
        )
        results = batch_items(entries, dict(zip((e.index for e in valid), outcomes, strict=True)))
        accepted = sum(1 for r in results if r["status_code"] == 202)
        events_counter.labels(tenant=who.tenant.id, outcome="accepted").inc(accepted)
        events_counter.labels(tenant=who.tenant.id, outcome="rejected").inc(len(results) - accepted)
        return _batch_answer(results, accepted, trace_id)

    @app.get("/v1/events/{event_id}", response_model=EventStatus, summary="An event's status")
    async def event_status(
        request: Request, event_id: uuid.UUID, who: Annotated[Caller, Depends(reading)]
    ) -> Any:
        try:
            record = await ledger.get_event(who.tenant.id, str(event_id))
            deliveries = (
                await ledger.webhooks.deliveries(who.tenant.id, record.msg_ids)
                if record is not None and record.client_id is not None
                else {}
            )
        except LedgerError as exc:
            raise _unavailable() from exc
        if record is None:
            # The same 404 whether the id is nobody's or another tenant's (no oracle), but
            # the second is audited.
            await gate.missing_event(request, who, event_id)
            raise NotFoundError(f"no event {event_id} for this tenant")
        return EventStatus.of(record, deliveries)

    @app.get(
        "/v1/messages/{msg_id}", response_model=MessageStatus, summary="A KPR message's status"
    )
    async def message_status(
        request: Request, msg_id: uuid.UUID, who: Annotated[Caller, Depends(reading)]
    ) -> Any:
        try:
            record = await ledger.get_message(who.tenant.id, str(msg_id))
        except LedgerError as exc:
            raise _unavailable() from exc
        if record is None:
            await gate.missing_message(request, who, msg_id)
            raise NotFoundError(f"no KPR message {msg_id} for this tenant")
        return MessageStatus(message=record)

    # Intake.start runs the sweep: what a crash left recorded but unpublished goes out.
    app.state.annual_sweep = register_annual_routes(
        app,
        gate=gate,
        submitter=AnnualSubmitter(
            ledger=ledger, bus=bus, options=annual or AnnualOptions(), audit=audit, metrics=metrics
        ),
        ledger=ledger,
        tenants=tenants,
    )
    return app


class Intake:
    """intake as a runtime component: it has no queue to consume, only its HTTP app."""

    work_arrives_by = WorkSource.HTTP

    def __init__(
        self,
        app: FastAPI,
        *,
        tokens: TokenVerifier | None = None,
        http_client: httpx.AsyncClient | None = None,
        annual_sweep_seconds: float = 60.0,
    ) -> None:
        self._app = app
        self._tokens = tokens
        self._http_client = http_client
        self._annual_sweep_seconds = annual_sweep_seconds
        self._annual_sweeps: asyncio.Task[None] | None = None

    def register(self) -> None:
        """Nothing to subscribe: intake only publishes."""

    async def start(self) -> None:
        """Fetch the OAuth2 issuer's keys early; an issuer that is down only delays tokens.
        Annual messages a crash left unpublished go out now, and then on every sweep (not
        only when their tenant next calls)."""
        if self._tokens is not None:
            await self._tokens.keys.refresh()
        await self._app.state.annual_sweep()
        self._annual_sweeps = asyncio.create_task(self._sweep_annual(), name="annual-sweep")

    async def _sweep_annual(self) -> None:
        while True:
            await asyncio.sleep(self._annual_sweep_seconds)
            try:
                await self._app.state.annual_sweep()
            except Exception:  # a sweep that fails is tried again at the next
                _log.exception("the annual republish sweep failed")

    async def close(self) -> None:
        """Nothing pending: every answered request was confirmed by the broker."""
        if self._annual_sweeps is not None:
            self._annual_sweeps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._annual_sweeps
        if self._http_client is not None:
            await self._http_client.aclose()

    def http_app(self) -> FastAPI:
        return self._app


def build(context: ServiceContext, settings: IntakeSettings) -> Intake:
    tokens, http_client = _token_verifier(settings)
    return Intake(
        create_app(
            tenants=context.tenants,
            ledger=context.ledger,
            bus=context.bus,
            limiter=RateLimiter(
                context.ledger.redis,
                per_second=settings.rate_limit_per_second,
                prefix=settings.key_prefix,
            ),
            limits=IntakeLimits(
                max_batch_events=settings.max_batch_events,
                max_body_bytes=settings.max_body_bytes,
                chunk_events=settings.chunk_events,
            ),
            metrics=context.metrics,
            tokens=tokens,
            keys=KeySpace(settings.key_prefix),
            annual=AnnualOptions(
                spool_dir=settings.annual_spool_dir,
                max_file_bytes=settings.annual_max_file_bytes,
                max_nhn_message_bytes=settings.annual_max_nhn_message_bytes,
                max_concurrent=settings.annual_max_concurrent,
                packing=(settings.annual_packing_ipl, settings.annual_packing_ide),
                republish_after=timedelta(seconds=settings.annual_republish_after_seconds),
            ),
        ),
        tokens=tokens,
        http_client=http_client,
        annual_sweep_seconds=settings.annual_republish_after_seconds,
    )


def _token_verifier(
    settings: IntakeSettings,
) -> tuple[TokenVerifier | None, httpx.AsyncClient | None]:
    config = settings.oauth_config()
    if config is None or settings.oauth_jwks_url is None:
        return None, None
    client = httpx.AsyncClient(follow_redirects=False)
    keys = JwksCache(
        settings.oauth_jwks_url,
        client=client,
        algorithms=config.algorithms,
        policy=settings.jwks_policy(),
    )
    _log.info("OAuth2 bearer tokens accepted from %s", config.issuer)
    return TokenVerifier(config, keys), client


def _install_error_answers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def request_not_valid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer quotes the input back (GET /v1/events/<a national id> would
        # return it): name where and what only, as the event errors do.
        body = ErrorBody(
            error="invalid_request",
            message="the request is not valid",
            details=describe_error_entries(exc.errors()),
        )
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(IntakeError)
    async def intake_error(_: Request, exc: IntakeError) -> JSONResponse:
        body = ErrorBody(error=exc.code, message=exc.message, details=exc.details)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if exc.status_code in (429, 503):
            headers = {"Retry-After": "1"}
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=headers)


def batch_items(
    entries: list[BatchEntry], outcomes: dict[int, SubmitOutcome]
) -> list[dict[str, Any]]:
    """One answer per submitted event, in submission order: ``BatchItem``'s fields, as JSON
    values (every field, defaults included, as the model would write them)."""
    results: list[dict[str, Any]] = []
    for entry in entries:
        outcome = outcomes.get(entry.index)
        if entry.error is not None:
            results.append(
                _item(
                    entry.index,
                    entry.claimed_event_id,
                    entry.error.status_code,
                    "invalid",
                    errors=[{"reason": entry.error.message}, *entry.error.details],
                )
            )
        elif isinstance(outcome, Accepted):
            results.append(
                _item(
                    entry.index,
                    outcome.event_id,
                    202,
                    outcome.state.value,
                    repeat=outcome.repeat,
                )
            )
        elif outcome is not None:
            results.append(
                _item(
                    entry.index,
                    outcome.event_id,
                    409,
                    "conflict",
                    errors=[{"reason": "submitted before with other content"}],
                )
            )
    return results


def _item(
    index: int,
    event_id: str | None,
    status_code: int,
    status: str,
    *,
    repeat: bool = False,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "index": index,
        "event_id": event_id,
        "status_code": status_code,
        "status": status,
        "repeat": repeat,
        "errors": errors if errors is not None else [],
    }


def _batch_answer(results: list[dict[str, Any]], accepted: int, trace_id: str) -> Response:
    # Written directly: a model per event, validated again by FastAPI against
    # response_model, was a tenth of intake's CPU per event (response_model documents it).
    answer = {
        "accepted": accepted,
        "rejected": len(results) - accepted,
        "trace_id": trace_id,
        "results": results,
    }
    return Response(json.dumps(answer, separators=(",", ":")), media_type=_JSON)


def _accepted(outcome: Accepted, trace_id: str) -> EventAccepted:
    return EventAccepted(
        event_id=outcome.event_id,
        status=outcome.state.value,
        repeat=outcome.repeat,
        trace_id=trace_id,
        links={"self": f"/v1/events/{outcome.event_id}"},
    )


def _unavailable() -> IntakeError:
    return UnavailableError("the ledger is unavailable; try again")


def _schema_with_components(app: FastAPI, model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema for a request body: the models it nests (the person) go into
    the OpenAPI document's components, where its ``$ref``s point."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    nested: dict[str, Any] = schema.pop("$defs", {})
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = build_openapi()
        if fresh:
            document.setdefault("components", {}).setdefault("schemas", {}).update(nested)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return schema
