"""The two MsgHeads of an annual submission: KPR_IPL around the IPLOS 3.7 file and KPR_IDE
around the XPR(ide) file, each with its own MsgId, as the daily shipments are addressed.

Packing is a setting per message type (``base64_zip`` by default: the file is zipped while
it is read from disk, so the uncompressed year is never in memory; ``inline`` parses the file
and is only for files that fit the NHN limit anyway). Runs in a worker thread: zipping tens
of MB is CPU work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final
from uuid import UUID

from lxml import etree

from kpr_gateway.messages import iplos_annual, xpr_ide
from kpr_gateway.messages.errors import MessagesError, PackedTooLargeError
from kpr_gateway.messages.msghead import Organisation, build_msghead
from kpr_gateway.messages.packing import Packing, pack_file
from kpr_gateway.messages.shipments import kpr_msghead
from kpr_gateway.messages.xmlsafe import parse_xml

IPL_TEXT: Final = "IPLOS 3.7, årlig rapportering (iplos_2019)"
IDE_TEXT: Final = "Identitetsmelding (XPR(ide) 53.1.3)"


@dataclass(frozen=True, slots=True)
class AnnualShipment:
    msg_id: UUID
    msg_type: str
    document: bytes
    """The MsgHead document, ready to seal."""


@dataclass(frozen=True, slots=True)
class OverLimit:
    """A message that would be over the NHN limit: the submission is refused with this."""

    msg_type: str
    size: int
    limit: int

    def reason(self) -> str:
        return (
            f"the {self.msg_type} message would be {self.size} bytes, over the NHN message "
            f"limit of {self.limit} bytes (KPRGW_INTAKE_ANNUAL_MAX_NHN_MESSAGE_BYTES); not sent"
        )


class AnnualBuildError(Exception):
    """A file could not be packed or wrapped (read error); the text names no content."""


def build_annual_shipments(
    *,
    sender: Organisation,
    receiver: Organisation,
    iplos: Path,
    ident: Path,
    ipl_id: UUID,
    ide_id: UUID,
    packing: tuple[Packing, Packing],
    max_message_bytes: int,
    now: datetime,
) -> tuple[AnnualShipment, AnnualShipment] | OverLimit:
    """Both MsgHeads, or the first that would be over ``max_message_bytes``."""
    built: list[AnnualShipment] = []
    parts = (
        (ipl_id, iplos_annual.MSG_TYPE, IPL_TEXT, iplos, packing[0]),
        (ide_id, xpr_ide.MSG_TYPE, IDE_TEXT, ident, packing[1]),
    )
    for msg_id, msg_type, text, path, how in parts:
        try:
            document = _document(path, how, max_message_bytes)
        except _TooLargeError as exc:
            return OverLimit(msg_type, exc.size, max_message_bytes)
        head = kpr_msghead(
            msg_type=msg_type,
            msg_type_text=text,
            msg_id=msg_id,
            sender=sender,
            receiver=receiver,
            document=document,
            now=now,
        )
        try:
            written = build_msghead(head)
        except MessagesError as exc:
            raise AnnualBuildError(f"the {msg_type} MsgHead cannot be written: {exc}") from exc
        if len(written) > max_message_bytes:
            return OverLimit(msg_type, len(written), max_message_bytes)
        built.append(AnnualShipment(msg_id, msg_type, written))
    return built[0], built[1]


class _TooLargeError(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _document(path: Path, packing: Packing, max_message_bytes: int) -> etree._Element:
    if packing is Packing.INLINE:
        size = path.stat().st_size
        if size > max_message_bytes:
            raise _TooLargeError(size)
        try:
            return parse_xml(path.read_bytes(), max_bytes=max_message_bytes)
        except MessagesError as exc:
            raise AnnualBuildError(f"the file cannot be put inline: {exc}") from exc
    try:
        packed = pack_file(path, max_base64_bytes=max_message_bytes)
    except PackedTooLargeError as exc:
        raise _TooLargeError(exc.at_least) from exc
    except MessagesError as exc:
        raise AnnualBuildError(f"the file cannot be packed: {exc}") from exc
    if len(packed.base64) > max_message_bytes:
        raise _TooLargeError(len(packed.base64))
    return packed.container()
