"""The AppRec error codes the simulator answers with.

Kodeverk 8221 ("Feil i applikasjonskvittering", OID 2.16.578.1.12.4.1.1.8221) is the
general list every receiver may use. ``V`` and ``DN`` are the kodeverk's, ``OT`` carries the
detail (element paths, line numbers, HER-ids, sequence numbers: never document values).

| code | DN (kodeverk 8221)              | when the simulator uses it                              |
|------|---------------------------------|---------------------------------------------------------|
| T02  | XML validerer ikke              | MsgHead or the Melding fails its schema; bad packing    |
| T10  | Støtter ikke meldingsformatet   | not KPR_IPL/KPR_IDE, or a document of another type      |
| E21  | Mottaker finnes ikke            | MsgHead receiver is not FHI/KPR or not the toHerId      |
| X99  | Annen feil                      | simulated rejection (fault injection ``reject_share``)  |

The checks a register makes beyond the schema need codes of its own. FHI's list is shared
only with EPJ vendors, so the ``KPR..`` codes below are the simulator's stand-ins, sent under
the same code system as a register extending kodeverk 8221 would:

| code  | DN                              | when                                                  |
|-------|---------------------------------|-------------------------------------------------------|
| KPR10 | Feil kommune                    | not exactly one Kommune, or not the sender's          |
| KPR11 | Mangler kontaktperson           | no Kontaktperson of type 16 or of type 17             |
| KPR12 | Feil i notifikasjon             | not one event per notification; status or reference   |
| KPR20 | Hull i notifikasjonskjeden      | the numbers before the message never arrived (gap)    |
| KPR21 | Brudd i notifikasjonskjeden     | a number reused, a previous-GUID that does not match  |
"""

from __future__ import annotations

from typing import Final

from kpr_gateway.messages.apprec import ERROR_CODE_SYSTEM, AppRecErrorCode

SCHEMA_INVALID: Final = ("T02", "XML validerer ikke")
UNSUPPORTED_FORMAT: Final = ("T10", "Støtter ikke meldingsformatet")
UNKNOWN_RECEIVER: Final = ("E21", "Mottaker finnes ikke")
OTHER_ERROR: Final = ("X99", "Annen feil")
WRONG_MUNICIPALITY: Final = ("KPR10", "Feil kommune")
CONTACT_MISSING: Final = ("KPR11", "Mangler kontaktperson")
NOTIFICATION_INVALID: Final = ("KPR12", "Feil i notifikasjon")
CHAIN_GAP: Final = ("KPR20", "Hull i notifikasjonskjeden")
CHAIN_BROKEN: Final = ("KPR21", "Brudd i notifikasjonskjeden")

# Long schema reports are cut: the first issues say enough, and receipts stay small.
MAX_DETAIL_CHARS: Final = 500


def error(code: tuple[str, str], detail: str | None = None) -> AppRecErrorCode:
    """One ``Error`` element of kodeverk 8221 with ``detail`` as its original text (OT)."""
    value, text = code
    shown = None if detail is None else detail[:MAX_DETAIL_CHARS]
    return AppRecErrorCode(code=value, system=ERROR_CODE_SYSTEM, text=text, ref=shown)


MAX_LISTED: Final = 10
"""Errors of one kind listed in one AppRec; the rest are counted in a last entry."""


def errors(code: tuple[str, str], details: list[str]) -> list[AppRecErrorCode]:
    """One ``Error`` per detail, at most ``MAX_LISTED`` and then one that counts the rest."""
    shown = [error(code, detail) for detail in details[:MAX_LISTED]]
    if len(details) > MAX_LISTED:
        shown.append(error(code, f"{len(details) - MAX_LISTED} more not shown"))
    return shown
