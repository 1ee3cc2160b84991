"""The annual documents (IPLOS 3.7 in KPR_IPL, XPR(ide) 53.1.3 in KPR_IDE): FHI's receiver
checks each against its official XSD, streaming.

A year is tens of MB of XML (a 50,000-person IPLOS file is about 72 MB), so it is never
parsed whole. The document (inline or packed: unpacked as it is copied, within
``AnnualDocument.max_bytes``) is spooled to a private temporary folder (``TMPDIR``) and read
in one validating pass (``iplos_annual.ValidatingStream``, as the gateway's readers do):
memory follows one ``PERSON`` or ``PasientIdent``, not the file. The spool is needed because
that pass reads an invalid file a second time to place its errors on their lines, and an
unpacking zip stream cannot be rewound. The folder is removed when the check ends (the
identity file carries national ids).

Only the schema is checked: each message is answered on its own (the two files are
separate shipments with separate AppRecs) and neither enters a daily chain. The register's
checks beyond the schema are not simulated: in particular the file's ``iiKomnr`` is the
number valid in the reporting year, which after a renumbering is not the tenant's number.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from kpr_gateway.messages import iplos_annual, xpr_ide
from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.iplos_annual import SchemaProblem, StreamOutcome, ValidatingStream
from kpr_gateway.messages.msghead import MsgHead, open_document
from kpr_gateway.messages.packing import DEFAULT_MAX_UNPACKED_BYTES
from kpr_gateway.simulator import codes
from kpr_gateway.simulator.errors import SimulatorError

IPLOS_ANNUAL_NAMESPACE: Final = iplos_annual.NAMESPACE
"""IPLOS 3.7 (iplos_2019.xsd), the annual extract sent as KPR_IPL."""
XPR_IDE_NAMESPACE: Final = xpr_ide.NAMESPACE
"""XPR(ide) 53.1.3, the identity message sent as KPR_IDE."""
ANNUAL_MSG_TYPES: Final = {
    IPLOS_ANNUAL_NAMESPACE: iplos_annual.MSG_TYPE,
    XPR_IDE_NAMESPACE: xpr_ide.MSG_TYPE,
}
"""Each annual document's namespace and the MsgHead type it travels in."""
ANNUAL_LABELS: Final = {IPLOS_ANNUAL_NAMESPACE: "IPLOS 3.7", XPR_IDE_NAMESPACE: "XPR(ide)"}
"""How error texts name each annual document."""

_SPOOL_CHUNK_BYTES: Final = 1024 * 1024
_SPOOL_PREFIX: Final = "kprgw-simulator-annual-"


@dataclass(frozen=True)
class AnnualDocument:
    """An annual document as the simulator received it (inline or packed: the same here)."""

    head: MsgHead
    namespace: str
    max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES

    def open(self) -> AbstractContextManager[IO[bytes]]:
        """The document's XML bytes, unpacked while read (``PackedDocumentTooLargeError``
        past ``max_bytes``, ``PackedDocumentError`` for a damaged zip)."""
        return open_document(self.head, max_bytes=self.max_bytes)


def check_annual_document(document: AnnualDocument) -> list[AppRecErrorCode]:
    """What FHI's receiver finds in an annual document; empty when it is valid.

    T10 when the document travels in the other type's message; T02 when it cannot be
    unpacked or breaks its schema (line, element and kind of error, never a value).
    ``SimulatorError`` when the spool cannot be written: the simulator's failure, not the
    sender's, so the message is not answered and comes back later.
    """
    expected_type = ANNUAL_MSG_TYPES[document.namespace]
    if document.head.msg_type != expected_type:
        return [
            codes.error(
                codes.UNSUPPORTED_FORMAT,
                f"a {document.namespace} document travels as {expected_type}, "
                f"not {document.head.msg_type[:40]!r}",
            )
        ]
    try:
        spool_folder = tempfile.TemporaryDirectory(prefix=_SPOOL_PREFIX)
    except OSError as exc:
        raise SimulatorError(
            f"no spool folder for the annual document in {tempfile.gettempdir()}: {exc.strerror}"
        ) from exc
    with spool_folder as folder:
        spool = Path(folder) / "document.xml"
        try:
            _spool(document, spool)
        except MessagesError as exc:  # PackedDocumentError, PackedDocumentTooLargeError
            return [codes.error(codes.SCHEMA_INVALID, f"packed document: {exc}")]
        outcome = _validate(document.namespace, spool)
    return schema_errors(ANNUAL_LABELS[document.namespace], outcome)


def _spool(document: AnnualDocument, path: Path) -> None:
    try:
        with document.open() as stream, path.open("wb") as spool:
            shutil.copyfileobj(stream, spool, _SPOOL_CHUNK_BYTES)
    except OSError as exc:
        raise SimulatorError(
            f"the annual document cannot be spooled to {path.parent.parent}: {exc.strerror}"
        ) from exc


def _validate(namespace: str, path: Path) -> StreamOutcome:
    """One validating pass that asks only for each file's unit (``PERSON``,
    ``PasientIdent``) to release it: the schema is checked in full all the same, and no
    field is handed to Python (the gateway's readers hand over fields for its rules; here
    that took a third of the time for a large year)."""
    error_type: type[MessagesError]
    if namespace == IPLOS_ANNUAL_NAMESPACE:
        schema, unit = iplos_annual.schema(), iplos_annual.qname("PERSON")
        error_type = iplos_annual.AnnualFileError
    else:
        schema, unit = xpr_ide.schema(), xpr_ide.qname("PasientIdent")
        error_type = xpr_ide.IdentFileError
    stream = ValidatingStream(path, schema, (unit,), release=(unit,), error_type=error_type)
    try:
        for _ in stream:
            pass
    except (iplos_annual.AnnualFileError, xpr_ide.IdentFileError) as exc:
        raise SimulatorError(f"the spooled annual document cannot be read: {exc}") from exc
    return stream.outcome


def schema_errors(label: str, outcome: StreamOutcome) -> list[AppRecErrorCode]:
    """T02 per placed problem, and one that counts the rest (and says when reading
    stopped early); empty when the document is valid."""
    if outcome.valid:
        return []
    details = [_described(label, problem) for problem in outcome.problems]
    unlisted = outcome.error_count - len(outcome.problems)
    if unlisted > 0 or not details:
        stopped = "" if outcome.complete else "; not read to its end"
        details.append(
            f"the {label} document has {outcome.error_count} schema errors in all{stopped}"
        )
    return codes.errors(codes.SCHEMA_INVALID, details)


def _described(label: str, problem: SchemaProblem) -> str:
    line = "?" if problem.line is None else str(problem.line)
    element = "(document)" if problem.element is None else f"element {problem.element}"
    return f"line {line} of the {label} document: {element} ({problem.kind})"
