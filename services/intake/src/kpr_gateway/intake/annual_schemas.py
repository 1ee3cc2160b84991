"""The annual submission API's answers, as documented in the OpenAPI description."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kpr_gateway.annual import SubmissionReport
from kpr_gateway.ledger import AnnualStatus, AnnualSubmissionRecord, MessageRecord
from kpr_gateway.ledger.records import ReceiptOutcome, Transition


class AnnualMessageStatus(BaseModel):
    """One of the submission's two messages: its state and, once it came, the AppRec."""

    msg_id: str
    msg_type: str = Field(description="KPR_IPL (the IPLOS 3.7 file) or KPR_IDE (identities).")
    state: str = Field(description="built, enveloped, dispatched, acknowledged, rejected, ...")
    receipt: ReceiptOutcome | None = Field(
        default=None, description="The AppRec's status, codes and texts (or transport error)."
    )
    history: list[Transition]

    @classmethod
    def of(cls, record: MessageRecord) -> AnnualMessageStatus:
        return cls(
            msg_id=record.msg_id,
            msg_type=record.msg_type,
            state=record.state.value,
            receipt=record.receipt,
            history=record.history,
        )


class AnnualSubmissionStatus(BaseModel):
    """An annual submission: what the check found, and where its messages are."""

    submission_id: str
    year: int
    environment: str = Field(
        description=(
            "The receiver both messages were addressed to: the tenant's own environment, or "
            "validation for a test submission to KPR Validering (171479), which neither blocks "
            "nor counts as the year's submission to KPR."
        )
    )
    status: AnnualStatus = Field(
        description=(
            "refused (the check found errors, or a message was over the NHN limit: nothing "
            "was sent); else KPR_IPL's state: sending, sent, overdue, acknowledged, "
            "acknowledged_with_errors, rejected (KPR's AppRec), failed (not delivered)."
        )
    )
    created_at: datetime
    persons: int
    report: SubmissionReport = Field(
        description="The check's report; examples name pePeIDs, never a national id."
    )
    refusal_reason: str | None = Field(
        default=None, description="Why a sendable report was still refused (message size)."
    )
    replace_reason: str | None = None
    replaces: str | None = Field(
        default=None, description="The acknowledged submission this one replaced."
    )
    trace_id: str | None = None
    messages: list[AnnualMessageStatus] = Field(
        description="KPR_IPL, then KPR_IDE; empty when refused."
    )
    links: dict[str, str]

    @classmethod
    def of(cls, record: AnnualSubmissionRecord) -> AnnualSubmissionStatus:
        messages = [m for m in (record.ipl, record.ide) if m is not None]
        return cls(
            submission_id=record.submission_id,
            year=record.year,
            environment=record.environment,
            status=record.status,
            created_at=record.created_at,
            persons=record.persons,
            report=SubmissionReport.model_validate(record.report),
            refusal_reason=record.refusal_reason,
            replace_reason=record.replace_reason,
            replaces=record.replaces,
            trace_id=record.trace_id,
            messages=[AnnualMessageStatus.of(m) for m in messages],
            links={"self": f"/v1/annual-submissions/{record.submission_id}"},
        )


class AnnualSubmissionList(BaseModel):
    submissions: list[AnnualSubmissionStatus] = Field(description="Oldest first.")
