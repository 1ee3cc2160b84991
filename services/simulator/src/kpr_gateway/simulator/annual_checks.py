"""The annual documents (IPLOS 3.7 in KPR_IPL, XPR(ide) 53.1.3 in KPR_IDE): where the
simulator checks them.

``check_annual_document`` is the hook: until the annual format packages
(``kpr_gateway.messages.iplos_annual``, ``kpr_gateway.messages.xpr_ide``) are wired in here,
an annual document is refused with T10, so nothing annual is ever acknowledged unchecked.
The document arrives as a stream (``AnnualDocument.open``): a year is tens of MB of XML and
is read streaming, never parsed whole.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Final

from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.msghead import MsgHead, open_document
from kpr_gateway.messages.packing import DEFAULT_MAX_UNPACKED_BYTES
from kpr_gateway.simulator import codes
from kpr_gateway.simulator.parties import KnownSender

IPLOS_ANNUAL_NAMESPACE: Final = "http://www.npr.no/xmlstds/iplos/2019"
"""IPLOS 3.7 (iplos_2019.xsd), the annual extract sent as KPR_IPL."""
XPR_IDE_NAMESPACE: Final = "http://www.npr.no/xmlstds/53_1_3_ide"
"""XPR(ide) 53.1.3, the identity message sent as KPR_IDE."""
ANNUAL_MSG_TYPES: Final = {IPLOS_ANNUAL_NAMESPACE: "KPR_IPL", XPR_IDE_NAMESPACE: "KPR_IDE"}
"""Each annual document's namespace and the MsgHead type it travels in."""


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


def check_annual_document(document: AnnualDocument, sender: KnownSender) -> list[AppRecErrorCode]:
    """HOOK (issue 11): what FHI's receiver finds in an annual document; empty when valid.

    To wire: validate ``document.open()`` streaming against the official XSD of
    ``document.namespace`` (T02 with line and element, never a value) and run the register's
    checks of ``iplos_annual`` / ``xpr_ide`` (``sender.municipality_number`` is the sender's
    municipality when known). The stream comes from outside: parse it as ``xmlsafe`` does (no
    DOCTYPE, no entities, no network). The MsgHead type is checked against the namespace
    here already.
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
    return [
        codes.error(
            codes.UNSUPPORTED_FORMAT,
            f"annual documents ({document.namespace}) are not checked by this simulator yet",
        )
    ]
