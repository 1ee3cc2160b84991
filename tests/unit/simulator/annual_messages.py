"""Annual messages as the gateway sends them: the examples' IPLOS 3.7 file as KPR_IPL and its
XPR(ide) identity file as KPR_IDE, each in its own MsgHead, packed (the annual default) or
inline; and hand-written edits of those files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from kpr_gateway.messages.msghead import build_msghead, parse_msghead
from kpr_gateway.messages.packing import PackedDocument, Packing, pack_bytes
from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.nhn import NhnMessage
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.support import REPO, kpr_ipl, nhn_message, sealed

EXAMPLES = REPO / "examples" / "annual"
IPLOS_FILE = EXAMPLES / "bergen-2025-iplos.xml"
IDENT_FILE = EXAMPLES / "bergen-2025-ident.xml"
MSG_TYPE_TEXTS = {
    "KPR_IPL": "IPLOS 3.7, årlig rapportering",
    "KPR_IDE": "Identitetsmelding XPR(ide) 53.1.3",
}


def annual_msghead(
    document: bytes | PackedDocument, msg_type: str, *, packing: Packing = Packing.BASE64_ZIP
) -> bytes:
    """A MsgHead of ``msg_type`` carrying ``document`` (the daily test MsgHead's parties);
    a ``PackedDocument`` (``pack_file`` of a large file) goes packed as it is."""
    head = parse_msghead(kpr_ipl())
    if isinstance(document, PackedDocument):
        content = document.container()
    elif packing is Packing.BASE64_ZIP:
        content = pack_bytes(document).container()
    else:
        content = parse_xml(document)
    annual = dataclasses.replace(
        head, msg_type=msg_type, msg_type_text=MSG_TYPE_TEXTS[msg_type], document=content
    )
    return build_msghead(annual)


def annual_message(
    pki: DevPki,
    document: bytes | PackedDocument,
    msg_type: str,
    *,
    packing: Packing = Packing.BASE64_ZIP,
) -> NhnMessage:
    """``document`` sealed in its MsgHead on the KPR queue, subject ``msg_type``."""
    return nhn_message(
        sealed(pki, annual_msghead(document, msg_type, packing=packing)), subject=msg_type
    )


def edited(path: Path, old: str, new: str, *, count: int = 1) -> tuple[bytes, int]:
    """The file at ``path`` with ``old`` replaced by ``new`` (``count`` times, -1: all), and
    the line of the first replacement."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    return text.replace(old, new, count).encode(), line


def national_ids(path: Path) -> list[str]:
    """The (fictional) national ids of an identity file: no answer may echo one."""
    return re.findall(r'fid="(\d+)"', path.read_text(encoding="utf-8"))
