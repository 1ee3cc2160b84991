"""The AppRec error codes the simulator answers with, from kodeverk 8221.

Kodeverk 8221 ("Feil i applikasjonskvittering", OID 2.16.578.1.12.4.1.1.8221) is the
general list every receiver may use; FHI may add register-specific codes, which this
simulator does not invent. ``V`` and ``DN`` are the kodeverk's, ``OT`` carries the detail
(element paths, line numbers, HER-ids: never document values).

| code | DN (kodeverk 8221)              | when the simulator uses it                              |
|------|---------------------------------|---------------------------------------------------------|
| T02  | XML validerer ikke              | MsgHead or KPR document fails its schema                |
| T10  | Støtter ikke meldingsformatet   | MsgHead type is not KPR_IPL or KPR_IDE                  |
| T99  | Annen feil på format            | the inline document is not the kind the type announces  |
| E21  | Mottaker finnes ikke            | MsgHead receiver is not FHI/KPR or not the toHerId      |
| X99  | Annen feil                      | simulated rejection (fault injection ``reject_share``)  |
"""

from __future__ import annotations

from typing import Final

from kpr_gateway.messages.apprec import ERROR_CODE_SYSTEM, AppRecErrorCode

SCHEMA_INVALID: Final = ("T02", "XML validerer ikke")
UNSUPPORTED_FORMAT: Final = ("T10", "Støtter ikke meldingsformatet")
OTHER_FORMAT_ERROR: Final = ("T99", "Annen feil på format")
UNKNOWN_RECEIVER: Final = ("E21", "Mottaker finnes ikke")
OTHER_ERROR: Final = ("X99", "Annen feil")

# Long schema reports are cut: the first issues say enough, and receipts stay small.
MAX_DETAIL_CHARS: Final = 500


def error(code: tuple[str, str], detail: str | None = None) -> AppRecErrorCode:
    """One ``Error`` element of kodeverk 8221 with ``detail`` as its original text (OT)."""
    value, text = code
    shown = None if detail is None else detail[:MAX_DETAIL_CHARS]
    return AppRecErrorCode(code=value, system=ERROR_CODE_SYSTEM, text=text, ref=shown)
