"""Errors of kpr_gateway.messages: one root, one subclass per way a message can be refused.

Texts name positions (element paths, line numbers) and never echo document content, because
documents carry personal data (national ids, names) and error texts end up in logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MessagesError(Exception):
    """Root of every error raised by kpr_gateway.messages."""


class UnsafeXmlError(MessagesError):
    """The input is refused before or while parsing: DOCTYPE, entities, too large or too deep."""


class MalformedXmlError(MessagesError):
    """The input is not well-formed XML (or not in a decodable encoding)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class MsgHeadError(MessagesError):
    """A MsgHead could not be built or read: a required part is missing or invalid."""


class PackedDocumentError(MsgHeadError):
    """A document packed in a MsgHead (zipped, base64 in a Base64Container) cannot be packed
    or unpacked: not base64, not a zip of one document, or a compression we do not read."""


class PackedDocumentTooLargeError(PackedDocumentError):
    """A packed document unpacks to more than the bound the reader set (a zip bomb, or a
    document larger than any the reader expects)."""


class AppRecError(MessagesError):
    """An AppRec could not be built or read."""


class NotAnAppRecError(AppRecError):
    """The document's root is not an AppRec of a known version (wrong name or namespace)."""


class MissingOriginalMsgIdError(AppRecError):
    """The AppRec lacks OriginalMsgId/Id, so it cannot be correlated to a sent message."""


class UnknownAppRecStatusError(AppRecError):
    """The AppRec status is missing or not a code of kodeverk 8258 (1, 2 or 3)."""


class SchemaError(MessagesError):
    """Schemas could not be found, loaded or chosen for a document."""


class StandardsNotFoundError(SchemaError):
    """The directory of official schemas is not configured or lacks a required file."""


class UnknownDocumentTypeError(SchemaError):
    """No schema is known for the document's root element namespace."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One schema violation: the line in the document and a message free of document values."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class SchemaValidationError(MessagesError):
    """A document does not validate against its schema; ``issues`` says where and why."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues: list[ValidationIssue] = list(issues)
        first = f"; first: {self.issues[0]}" if self.issues else ""
        super().__init__(
            f"document is not valid against its schema: {len(self.issues)} issue(s){first}"
        )


class PackedTooLargeError(PackedDocumentError):
    """Packing stopped: the packed document would exceed the limit it was given."""

    def __init__(self, at_least: int, limit: int) -> None:
        super().__init__(f"packed, the document is over {at_least} bytes (the limit is {limit})")
        self.at_least = at_least
        self.limit = limit
