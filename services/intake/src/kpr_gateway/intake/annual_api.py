"""The annual IPLOS 3.7 submission API: submit a year (two files), read its state.

``POST /v1/annual-submissions`` spools the two files to disk, runs the annual check in a
worker thread (the event loop keeps serving daily events) while another builds KPR_IPL and
KPR_IDE (used for a sendable report only) and checks their size against the NHN limit,
records the submission and both messages in one ledger step under the year's resend rule,
and publishes both on ``messages``. A refused submission is recorded with its report;
nothing of it is sent. The spooled files are deleted when the request is done, also on
errors.

The form's ``environment`` picks the receiver: the tenant's own (the default), or
``validation`` for a test submission to KPR Validering. Both messages carry it (their MsgHead
is addressed to it, and the ``BuiltMessage`` names it for envelope, dispatch and receipts),
and the resend rules hold per environment: a test submission neither blocks the year's
submission to KPR nor counts as it.
"""

# No "from __future__ import annotations": FastAPI reads the Depends() in the route
# signatures at run time.

import asyncio
import logging
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from kpr_gateway.annual import AnnualInputError, SubmissionReport, check_submission
from kpr_gateway.intake.access import Gatekeeper
from kpr_gateway.intake.annual_messages import (
    AnnualBuildError,
    AnnualShipment,
    OverLimit,
    build_annual_shipments,
)
from kpr_gateway.intake.annual_schemas import AnnualSubmissionList, AnnualSubmissionStatus
from kpr_gateway.intake.annual_upload import UploadLimits, spooled_upload
from kpr_gateway.intake.audit import AuditLog
from kpr_gateway.intake.auth import Caller
from kpr_gateway.intake.errors import (
    AnnualBusyError,
    AnnualConflictError,
    ConflictError,
    IntakeError,
    InvalidSubmissionError,
    NotFoundError,
    UnavailableError,
)
from kpr_gateway.ledger import AnnualConflictError as LedgerAnnualConflictError
from kpr_gateway.ledger import (
    AnnualMessage,
    Discipline,
    DisciplineAnswer,
    Ledger,
    LedgerError,
    NewAnnualSubmission,
)
from kpr_gateway.messages.iplos_kpr import NATIONAL_ID_IN_TEXT
from kpr_gateway.messages.packing import ANNUAL_PACKING, Packing
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.observability.tracing import current_trace_id, current_traceparent
from kpr_gateway.pipeline import queues
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import BuiltMessage, ReceiverEnvironment
from kpr_gateway.pipeline.errors import PublishError
from kpr_gateway.tenancy import (
    TEST_SUBMISSION_ENVIRONMENT,
    EnvironmentNotAllowedError,
    Tenant,
    TenantsFile,
    kpr_receiver,
    message_environment,
)
from kpr_gateway.tenancy.model import Scope, TargetEnvironment

_log = logging.getLogger(__name__)
FIRST_YEAR: Final = 2000
MAX_REASON_CHARS: Final = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True, slots=True)
class AnnualOptions:
    """intake's annual settings (``KPRGW_INTAKE_ANNUAL_*``)."""

    spool_dir: Path | None = None
    max_file_bytes: int = 512 * 1024 * 1024
    max_nhn_message_bytes: int = 16 * 1024 * 1024
    packing: tuple[Packing, Packing] = (ANNUAL_PACKING, ANNUAL_PACKING)
    """KPR_IPL's, KPR_IDE's."""
    republish_after: timedelta = timedelta(seconds=60)
    max_concurrent: int = 1
    """Submissions checked at once per replica: each spools up to two files of
    ``max_file_bytes``, and the spool has a size limit (a full one evicts the pod)."""


@dataclass(frozen=True, slots=True)
class AnnualForm:
    year: int
    environment: TargetEnvironment
    replace: bool
    reason: str | None


def read_form(fields: Mapping[str, str], tenant: Tenant, today: date) -> AnnualForm:
    """The text fields, checked; reasons name the field, never its value."""
    problems: list[dict[str, Any]] = []
    year = _year(fields.get("year", "").strip(), today, problems)
    environment = _environment(fields.get("environment", "").strip(), tenant, problems)
    replace, reason = _replace_and_reason(fields, problems)
    if problems:
        raise InvalidSubmissionError("the submission's form is invalid", details=problems)
    return AnnualForm(year, environment, replace, reason)


def _year(raw: str, today: date, problems: list[dict[str, Any]]) -> int:
    if not raw:
        return today.year - 1
    if not raw.isascii() or not raw.isdigit():
        problems.append({"field": "year", "reason": "a year, e.g. 2025"})
    elif not FIRST_YEAR <= int(raw) <= today.year:
        problems.append({"field": "year", "reason": f"from {FIRST_YEAR} to {today.year}"})
    else:
        return int(raw)
    return today.year - 1


def _environment(raw: str, tenant: Tenant, problems: list[dict[str, Any]]) -> TargetEnvironment:
    """The tenant's own environment, or validation (a test submission to KPR Validering)."""
    try:
        return message_environment(tenant, raw or None)
    except EnvironmentNotAllowedError:
        own = tenant.environment.value
        allowed = (
            own
            if tenant.environment is TEST_SUBMISSION_ENVIRONMENT
            else f"{own} (the tenant's own) or {TEST_SUBMISSION_ENVIRONMENT.value} (a test "
            "submission to KPR Validering)"
        )
        problems.append({"field": "environment", "reason": allowed})
        return tenant.environment


def _replace_and_reason(
    fields: Mapping[str, str], problems: list[dict[str, Any]]
) -> tuple[bool, str | None]:
    replace = False
    raw_replace = fields.get("replace", "").strip().lower()
    if raw_replace in _TRUE:
        replace = True
    elif raw_replace not in _FALSE:
        problems.append({"field": "replace", "reason": "true or false"})
    reason = fields.get("reason", "").strip() or None
    if reason is not None:
        if len(reason) > MAX_REASON_CHARS:
            problems.append({"field": "reason", "reason": f"at most {MAX_REASON_CHARS} characters"})
        elif _CONTROL.search(reason) or NATIONAL_ID_IN_TEXT.search(reason):
            problems.append(
                {"field": "reason", "reason": "no control characters and no national id"}
            )
    if replace and reason is None:
        problems.append({"field": "reason", "reason": "required with replace"})
    return replace, reason


class AnnualSubmitter:
    """Check, build, record and publish one annual submission."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        bus: Bus,
        options: AnnualOptions,
        audit: AuditLog,
        metrics: ServiceMetrics,
    ) -> None:
        self._ledger = ledger
        self._bus = bus
        self._options = options
        self._audit = audit
        self._limits = UploadLimits(options.max_file_bytes, options.spool_dir)
        self._slots = asyncio.Semaphore(options.max_concurrent)
        self._submissions = metrics.counter(
            "annual_submissions",
            "Annual submissions, by tenant and outcome (sent, refused, conflict).",
            ("tenant", "outcome"),
        )

    async def submit(self, request: Request, who: Caller) -> AnnualSubmissionStatus:
        if self._slots.locked():
            raise AnnualBusyError(
                "this gateway is checking another annual submission; try again in a minute"
            )
        async with self._slots:
            return await self._submit(request, who)

    async def _submit(self, request: Request, who: Caller) -> AnnualSubmissionStatus:
        tenant = who.tenant
        async with spooled_upload(request, self._limits) as upload:
            form = read_form(upload.fields, tenant, datetime.now(UTC).date())
            await self._republish(tenant.id)
            # Before the check's work: a pending or accepted year is answered at once (the
            # ledger step decides again, atomically).
            self._refuse_if_blocked(
                tenant.id, await self._ledger_call(self._discipline(tenant.id, form))
            )
            # The previous year as the register has it: the tenant's own environment's.
            previous = await self._ledger_call(
                self._ledger.annual.accepted_persons(
                    tenant.id, form.year - 1, environment=tenant.environment.value
                )
            )
            # The messages are packed while the check runs (each in a thread of its own: the
            # zip's deflate and lxml's parsing use two cores); a refused submission's packing
            # is thrown away. Both end before the spooled files are removed.
            checked, built = await asyncio.gather(
                asyncio.to_thread(
                    check_submission,
                    tenant=tenant,
                    year=form.year,
                    iplos=upload.iplos,
                    ident=upload.ident,
                    previous_persons=previous,
                ),
                self._build(tenant, form, upload.iplos, upload.ident),
                return_exceptions=True,
            )
            if isinstance(checked, AnnualInputError):
                _log.error("tenant %s: the annual check could not run: %s", tenant.id, checked)
                raise IntakeError(
                    "the annual check could not run; see the gateway's log"
                ) from checked
            if isinstance(checked, BaseException):
                raise checked
            report = checked
            submission_id = str(uuid.uuid4())
            shipments, refusal = self._sendable(tenant.id, report, built)
        trace_id = current_trace_id() or uuid.uuid4().hex
        new = NewAnnualSubmission(
            submission_id=submission_id,
            year=form.year,
            environment=form.environment.value,
            report=report.model_dump(mode="json"),
            persons=report.persons,
            trace_id=trace_id,
            traceparent=current_traceparent(),
            messages=None if shipments is None else _ledger_messages(shipments),
            refusal_reason=refusal,
            replace=form.replace,
            replace_reason=form.reason if form.replace else None,
        )
        answer = await self._ledger_call(self._ledger.annual.record(tenant.id, new))
        self._refuse_if_blocked(tenant.id, answer)
        if answer.replaces is not None and form.reason is not None:
            self._audit.annual_replaced(
                caller=who,
                submission_id=submission_id,
                replaces=answer.replaces,
                year=form.year,
                reason=form.reason,
            )
        if shipments is not None:
            await self._publish(tenant.id, submission_id, form.environment, shipments)
        self._submissions.labels(
            tenant=tenant.id, outcome="refused" if shipments is None else "sent"
        ).inc()
        record = await self._ledger_call(self._ledger.annual.get(tenant.id, submission_id))
        if record is None:  # expired within the request: not expected
            raise UnavailableError("the submission was recorded but cannot be read; try GET")
        return AnnualSubmissionStatus.of(record)

    async def _discipline(self, tenant_id: str, form: AnnualForm) -> DisciplineAnswer:
        return await self._ledger.annual.discipline(
            tenant_id, form.year, replace=form.replace, environment=form.environment.value
        )

    def _refuse_if_blocked(self, tenant_id: str, answer: DisciplineAnswer) -> None:
        if answer.rule is Discipline.ALLOWED:
            return
        self._submissions.labels(tenant=tenant_id, outcome="conflict").inc()
        details = [{"submission_id": answer.current_id, "rule": answer.rule.value}]
        if answer.rule is Discipline.PENDING:
            raise AnnualConflictError(
                f"submission {answer.current_id} for this year is waiting for KPR's AppRec; "
                "nothing is sent again before it is in",
                details=details,
            )
        raise AnnualConflictError(
            f"submission {answer.current_id} for this year was acknowledged; send "
            "replace=true with a reason (talk to FHI first)",
            details=details,
        )

    @staticmethod
    def _sendable(
        tenant_id: str,
        report: SubmissionReport,
        built: tuple[AnnualShipment, AnnualShipment] | OverLimit | BaseException,
    ) -> tuple[tuple[AnnualShipment, AnnualShipment] | None, str | None]:
        """The shipments to record and send, or the reason a sendable report is refused;
        (None, None) for a refused report, whatever the packing did."""
        if not report.sendable:
            return None, None
        if isinstance(built, AnnualBuildError):
            _log.error("tenant %s: annual messages not built: %s", tenant_id, built)
            raise IntakeError("the annual messages could not be built; see the log") from built
        if isinstance(built, BaseException):
            raise built
        if isinstance(built, OverLimit):
            return None, built.reason()
        return built, None

    async def _build(
        self, tenant: Tenant, form: AnnualForm, iplos: Path, ident: Path
    ) -> tuple[AnnualShipment, AnnualShipment] | OverLimit:
        """Both messages (``AnnualBuildError`` for a file that cannot be packed: whether
        that matters is the check's to say, see ``_sendable``)."""
        return await asyncio.to_thread(
            build_annual_shipments,
            sender=tenant.sender_organisation(),
            receiver=kpr_receiver(form.environment),
            iplos=iplos,
            ident=ident,
            ipl_id=uuid.uuid4(),
            ide_id=uuid.uuid4(),
            packing=self._options.packing,
            max_message_bytes=self._options.max_nhn_message_bytes,
            now=datetime.now(UTC),
        )

    async def _publish(
        self,
        tenant_id: str,
        submission_id: str,
        environment: TargetEnvironment,
        shipments: tuple[AnnualShipment, ...],
    ) -> None:
        messages = [
            BuiltMessage(
                tenant_id=tenant_id,
                msg_id=s.msg_id,
                msg_type="KPR_IPL" if s.msg_type == "KPR_IPL" else "KPR_IDE",
                batch_id=uuid.UUID(submission_id),
                submission_id=uuid.UUID(submission_id),
                environment=_RECEIVER_ENVIRONMENTS[environment],
                document=s.document,
            )
            for s in shipments
        ]
        await self._publish_messages(tenant_id, messages)

    async def _publish_messages(self, tenant_id: str, messages: list[BuiltMessage]) -> None:
        """Publish and mark published; a failure leaves them for the next sweep (recorded
        ``built`` with their documents, found by ``unpublished``)."""
        try:
            for message in messages:
                await self._bus.publish(
                    queues.MESSAGES, message.to_body(), message_id=str(message.msg_id)
                )
                # Each as soon as its own publish is confirmed: one that fails after it does
                # not send this one again.
                await self._ledger.annual.mark_published(tenant_id, [str(message.msg_id)])
        except (PublishError, LedgerError) as exc:
            _log.warning(
                "tenant %s: annual messages recorded but not yet published (%s); "
                "published again by the next sweep",
                tenant_id,
                type(exc).__name__,
            )

    async def _republish(self, tenant_id: str) -> int:
        """Publish the tenant's annual messages whose publish was never confirmed."""
        found = await self._ledger_call(
            self._ledger.annual.unpublished(tenant_id, older_than=self._options.republish_after)
        )
        messages = [
            BuiltMessage(
                tenant_id=tenant_id,
                msg_id=uuid.UUID(m.msg_id),
                msg_type="KPR_IPL" if m.msg_type == "KPR_IPL" else "KPR_IDE",
                batch_id=uuid.UUID(m.submission_id),
                submission_id=uuid.UUID(m.submission_id),
                environment=(
                    _RECEIVER_ENVIRONMENTS[TargetEnvironment(m.environment)]
                    if m.environment
                    else None
                ),
                document=m.document,
            )
            for m in found
        ]
        if messages:
            _log.info("tenant %s: publishing %d annual message(s) again", tenant_id, len(messages))
            await self._publish_messages(tenant_id, messages)
        return len(messages)

    def remove_stale_uploads(self) -> int:
        """At start-up: uploads a crashed process left in the spool (they hold national ids,
        and count against the spool's size limit). Only in a configured spool directory:
        the system's temp directory is not this service's alone."""
        spool = self._options.spool_dir
        if spool is None or not spool.is_dir():
            return 0
        stale = [folder for folder in spool.glob("annual-*") if folder.is_dir()]
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        if stale:
            _log.warning("removed %d annual upload(s) a crash left in the spool", len(stale))
        return len(stale)

    async def republish_all(self, tenants: TenantsFile) -> None:
        """At start-up: what a crash left recorded but unpublished goes out now."""
        self.remove_stale_uploads()
        for tenant in tenants.tenants:
            try:
                await self._republish(tenant.id)
            except IntakeError as exc:
                _log.warning("tenant %s: annual sweep skipped (%s)", tenant.id, exc.message)

    async def sweep(self, tenant_id: str) -> None:
        await self._republish(tenant_id)

    @staticmethod
    async def _ledger_call(call: Any) -> Any:
        try:
            return await call
        except LedgerAnnualConflictError as exc:
            # Not the ledger being down: concurrent submissions for the year (or a taken id)
            raise ConflictError(
                "another annual submission for this year is being recorded; read the year's "
                "list, then try again"
            ) from exc
        except LedgerError as exc:
            raise UnavailableError("the ledger is unavailable; try again") from exc


_RECEIVER_ENVIRONMENTS: Final[dict[TargetEnvironment, ReceiverEnvironment]] = {
    TargetEnvironment.PRODUCTION: "production",
    TargetEnvironment.VALIDATION: "validation",
    TargetEnvironment.COMMUNICATION_TEST: "communication-test",
}
"""The environment as the ``BuiltMessage`` names it."""


def _ledger_messages(
    shipments: tuple[AnnualShipment, AnnualShipment],
) -> tuple[AnnualMessage, AnnualMessage]:
    ipl, ide = shipments
    return (
        AnnualMessage(str(ipl.msg_id), ipl.msg_type, ipl.document),
        AnnualMessage(str(ide.msg_id), ide.msg_type, ide.document),
    )


def register_annual_routes(
    app: FastAPI,
    *,
    gate: Gatekeeper,
    submitter: AnnualSubmitter,
    ledger: Ledger,
    tenants: TenantsFile,
) -> Callable[[], Awaitable[None]]:
    """The annual routes on ``app`` (scope ``annual`` to submit; ``read`` or ``annual`` to
    read). Returns the start-up sweep (publishes what a crash left unpublished)."""

    annual_reader = gate.caller_with(Scope.READ, Scope.ANNUAL)

    @app.post(
        "/v1/annual-submissions",
        status_code=201,
        response_model=AnnualSubmissionStatus,
        summary="Submit a year's IPLOS 3.7 file and its identity file (scope annual)",
        description=(
            "multipart/form-data with the file parts `iplos` (IPLOS 3.7, iplos_2019.xsd) and "
            "`ident` (XPR(ide) 53.1.3), and the fields `year` (default: the previous calendar "
            "year), `environment` (default the tenant's own; `validation` sends a test "
            "submission to KPR Validering, HER-id 171479; any other is 422), `replace` (true to "
            "replace the year's acknowledged submission) and `reason` (required with replace). "
            "Answers 201 with the submission once it is checked and recorded: `status` is "
            "`refused` (the report's findings; nothing sent) or `sending`. 409 while the year's "
            "current submission to the same environment waits for KPR's AppRec, or after an "
            "acknowledged one without replace (`details[0].submission_id` names it); a test "
            "submission to KPR Validering neither blocks nor replaces the one to KPR. 413 over "
            "the file size limit."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["iplos", "ident"],
                            "properties": {
                                "iplos": {"type": "string", "format": "binary"},
                                "ident": {"type": "string", "format": "binary"},
                                "year": {"type": "integer", "example": 2025},
                                "environment": {
                                    "type": "string",
                                    "enum": [e.value for e in TargetEnvironment],
                                    "description": (
                                        "Default: the tenant's own. validation: a test "
                                        "submission to KPR Validering (171479)."
                                    ),
                                },
                                "replace": {"type": "boolean", "default": False},
                                "reason": {"type": "string", "maxLength": MAX_REASON_CHARS},
                            },
                        }
                    }
                },
            }
        },
    )
    async def submit_annual(request: Request) -> JSONResponse:
        who = await gate.admit(request, request.headers.get("authorization"), Scope.ANNUAL)
        status = await submitter.submit(request, who)
        return JSONResponse(
            status.model_dump(mode="json"),
            status_code=201,
            headers={"Location": status.links["self"]},
        )

    @app.get(
        "/v1/annual-submissions/{submission_id}",
        response_model=AnnualSubmissionStatus,
        summary="An annual submission: its report, both messages and their AppRecs",
    )
    async def annual_status(
        request: Request,
        submission_id: uuid.UUID,
        who: Annotated[Caller, Depends(annual_reader)],
    ) -> Any:
        await submitter.sweep(who.tenant.id)
        try:
            record = await ledger.annual.get(who.tenant.id, str(submission_id))
        except LedgerError as exc:
            raise UnavailableError("the ledger is unavailable; try again") from exc
        if record is None:
            # As the event and message reads: the same 404 whether the id is nobody's or
            # another tenant's (no oracle), and the second is audited.
            await gate.missing_annual_submission(request, who, submission_id)
            raise NotFoundError(f"no annual submission {submission_id} for this tenant")
        return AnnualSubmissionStatus.of(record)

    @app.get(
        "/v1/annual-submissions",
        response_model=AnnualSubmissionList,
        summary="The tenant's annual submissions (of one year, or all)",
    )
    async def annual_list(
        who: Annotated[Caller, Depends(annual_reader)],
        year: Annotated[int | None, Query(ge=FIRST_YEAR, le=9999)] = None,
    ) -> Any:
        try:
            years = [year] if year is not None else await ledger.annual.years(who.tenant.id)
            records = [r for y in years for r in await ledger.annual.list_year(who.tenant.id, y)]
        except LedgerError as exc:
            raise UnavailableError("the ledger is unavailable; try again") from exc
        return AnnualSubmissionList(
            submissions=[AnnualSubmissionStatus.of(record) for record in records]
        )

    return lambda: submitter.republish_all(tenants)
