"""States of events and KPR messages (DESIGN.md section 2) and the rules between them.

A state only moves forward: each has a rank and a transition to a lower or equal
rank is refused, so redelivered work (an envelope done twice, an AppRec replayed)
never moves a record backwards. Final states share the top rank: once a message
has its outcome, it stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class EventState(StrEnum):
    RECEIVED = "received"
    REJECTED_INVALID = "rejected_invalid"
    SUPPRESSED_TEST_PERSON = "suppressed_test_person"
    NOT_REPORTABLE = "not_reportable"
    """Accepted and kept, but of a service type this release does not report (a setting)."""
    BATCHED = "batched"


class MessageState(StrEnum):
    BUILT = "built"
    ENVELOPED = "enveloped"
    DISPATCHED = "dispatched"
    OVERDUE = "overdue"
    ACKNOWLEDGED = "acknowledged"
    ACKNOWLEDGED_WITH_ERRORS = "acknowledged_with_errors"
    REJECTED = "rejected"
    TRANSPORT_ERROR = "transport_error"
    REFUSED = "refused"
    """Not sent: the gateway itself refused it (over the NHN size limit); no AppRec comes."""


EVENT_RANK: dict[EventState, int] = {
    EventState.RECEIVED: 1,
    EventState.REJECTED_INVALID: 2,
    EventState.SUPPRESSED_TEST_PERSON: 2,
    EventState.NOT_REPORTABLE: 2,
    EventState.BATCHED: 2,
}

FINAL_MESSAGE_STATES = frozenset(
    {
        MessageState.ACKNOWLEDGED,
        MessageState.ACKNOWLEDGED_WITH_ERRORS,
        MessageState.REJECTED,
        MessageState.TRANSPORT_ERROR,
        MessageState.REFUSED,
    }
)

# A message may be sent again once it is no longer in flight: it has an outcome, or its
# AppRec is overdue. Resending a built/enveloped/dispatched one would send it twice.
RESENDABLE_MESSAGE_STATES = FINAL_MESSAGE_STATES | {MessageState.OVERDUE}

MESSAGE_RANK: dict[MessageState, int] = {
    MessageState.BUILT: 1,
    MessageState.ENVELOPED: 2,
    MessageState.DISPATCHED: 3,
    MessageState.OVERDUE: 4,
    **dict.fromkeys(FINAL_MESSAGE_STATES, 5),
}

# What an event whose messages are in several states is, read as one: the most
# serious outcome wins, otherwise the least progressed message.
_EVENT_OUTCOME_PRECEDENCE: tuple[MessageState, ...] = (
    MessageState.REJECTED,
    MessageState.REFUSED,
    MessageState.TRANSPORT_ERROR,
    MessageState.OVERDUE,
    MessageState.BUILT,
    MessageState.ENVELOPED,
    MessageState.DISPATCHED,
    MessageState.ACKNOWLEDGED_WITH_ERRORS,
    MessageState.ACKNOWLEDGED,
)


def combined_message_state(states: Iterable[MessageState]) -> MessageState | None:
    """The state an event shows once batched: derived from its messages, never stored."""
    present = set(states)
    for state in _EVENT_OUTCOME_PRECEDENCE:
        if state in present:
            return state
    return None


def shown_event_status(
    state: EventState, messages: Iterable[tuple[str, MessageState, str | None]]
) -> str:
    """What an event shows: its own state, or once batched, that of its messages read as one.

    ``messages``: (msg_id, state, resend_of) of each message that carried it. A message sent
    again is superseded by its resend: its outcome no longer counts.
    """
    listed = list(messages)
    superseded = {resend_of for _, _, resend_of in listed if resend_of}
    combined = combined_message_state(s for msg_id, s, _ in listed if msg_id not in superseded)
    return combined.value if state is EventState.BATCHED and combined else state.value


class AnnualState(StrEnum):
    """What an annual submission is as stored: sent (its two messages recorded) or refused."""

    SENT = "sent"
    REFUSED = "refused"
    """The check found errors, or a message was over the NHN size limit: nothing sent."""


class AnnualStatus(StrEnum):
    """What an annual submission shows: its stored state, then that of its KPR_IPL."""

    REFUSED = "refused"
    SENDING = "sending"
    """Recorded; its messages are being sealed and dispatched."""
    SENT = "sent"
    """KPR_IPL is on the Tjenestebuss, waiting for its AppRec."""
    OVERDUE = "overdue"
    ACKNOWLEDGED = "acknowledged"
    ACKNOWLEDGED_WITH_ERRORS = "acknowledged_with_errors"
    REJECTED = "rejected"
    """KPR's AppRec on the KPR_IPL rejected it."""
    FAILED = "failed"
    """Not delivered: a transport error, or envelope refused it (over the NHN size limit)."""
    UNKNOWN = "unknown"
    """Its KPR_IPL is no longer in the ledger (past the retention)."""


ACCEPTED_MESSAGE_STATES = frozenset(
    {MessageState.ACKNOWLEDGED, MessageState.ACKNOWLEDGED_WITH_ERRORS}
)
"""A KPR_IPL in one of these made its submission the year's accepted one."""

_ANNUAL_STATUS_OF_MESSAGE: dict[MessageState, AnnualStatus] = {
    MessageState.BUILT: AnnualStatus.SENDING,
    MessageState.ENVELOPED: AnnualStatus.SENDING,
    MessageState.DISPATCHED: AnnualStatus.SENT,
    MessageState.OVERDUE: AnnualStatus.OVERDUE,
    MessageState.ACKNOWLEDGED: AnnualStatus.ACKNOWLEDGED,
    MessageState.ACKNOWLEDGED_WITH_ERRORS: AnnualStatus.ACKNOWLEDGED_WITH_ERRORS,
    MessageState.REJECTED: AnnualStatus.REJECTED,
    MessageState.TRANSPORT_ERROR: AnnualStatus.FAILED,
    MessageState.REFUSED: AnnualStatus.FAILED,
}


def annual_status(state: AnnualState, ipl_state: MessageState | None) -> AnnualStatus:
    """The status a submission shows: KPR_IPL's AppRec decides it (derived, never stored)."""
    if state is AnnualState.REFUSED:
        return AnnualStatus.REFUSED
    if ipl_state is None:
        return AnnualStatus.UNKNOWN
    return _ANNUAL_STATUS_OF_MESSAGE[ipl_state]
