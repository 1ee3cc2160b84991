"""Errors of intake, each with the HTTP status it answers with.

Texts are returned to EPJ systems and logged: they name fields and ids, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class IntakeError(Exception):
    """Root of every error raised by kpr_gateway.intake."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequestError(IntakeError):
    status_code = 400
    code = "bad_request"


class InvalidEventError(IntakeError):
    status_code = 422
    code = "invalid_event"


class InvalidSubmissionError(IntakeError):
    """An annual submission's form is incomplete or invalid (not its files' content: that is
    the check's report)."""

    status_code = 422
    code = "invalid_submission"


class UnsupportedMediaTypeError(IntakeError):
    status_code = 415
    code = "unsupported_media_type"


class UnauthenticatedError(IntakeError):
    status_code = 401
    code = "unauthenticated"


class ForbiddenError(IntakeError):
    status_code = 403
    code = "forbidden"


class AuthenticationError(UnauthenticatedError):
    """Missing or invalid credentials.

    ``reason`` is a short stable code and ``context`` a few ids (never a credential, never
    personal data): both go to the audit log, not to the client.
    """

    def __init__(
        self, message: str, *, reason: str, context: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.context = dict(context or {})


class AccessDeniedError(ForbiddenError):
    """Valid credentials that do not reach this tenant or this operation (audited)."""

    def __init__(
        self, message: str, *, reason: str, context: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.context = dict(context or {})


class NotFoundError(IntakeError):
    status_code = 404
    code = "not_found"


class ConflictError(IntakeError):
    status_code = 409
    code = "conflict"


class AnnualConflictError(IntakeError):
    """The year's resend rule refuses a new annual submission; ``details`` names the one in
    the way (``submission_id``)."""

    status_code = 409
    code = "conflict"


class PayloadTooLargeError(IntakeError):
    status_code = 413
    code = "payload_too_large"


class RateLimitedError(IntakeError):
    status_code = 429
    code = "rate_limited"


class UnavailableError(IntakeError):
    """The ledger or the broker is down: the event is not accepted, the client retries."""

    status_code = 503
    code = "unavailable"


class AnnualBusyError(UnavailableError):
    """This replica is checking as many annual submissions as it may at once."""


class SigningKeysUnavailableError(UnavailableError):
    """The issuer's JWKS cannot be fetched and no key for the token is cached."""
