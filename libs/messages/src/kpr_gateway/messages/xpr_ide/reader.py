"""A streaming reader of the XPR(ide) 53.1.3 identity file: one ``PatientIdent`` per
``PasientIdent`` (pid, fid, typeID), each freed once read.

The national id (``fid``) passes through here as a string and nowhere else: callers keep a
keyed hash of it, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from lxml import etree

from kpr_gateway.messages.iplos_annual.streaming import (
    MAX_LOCATED,
    MAX_SCHEMA_ERRORS,
    StreamOutcome,
    ValidatingStream,
)
from kpr_gateway.messages.xpr_ide.errors import IdentFileError
from kpr_gateway.messages.xpr_ide.xsd import qname, schema

_PASIENT_IDENT: Final = qname("PasientIdent")


@dataclass(frozen=True, slots=True)
class IdentHeader:
    """The ``Melding``'s attributes the annual checks may look at (None when absent)."""

    message_kind: str | None
    """``meldingstype`` (kodeverk 7371): B for a batch, E for changes."""
    period_from: date | None
    """``fraDatoPeriode``."""
    period_to: date | None
    """``tilDatoPeriode``."""
    sequence_number: str | None
    """``lopenr``."""


@dataclass(frozen=True, slots=True, repr=False)
class PatientIdent:
    """One ``PasientIdent``. ``repr`` leaves the national id out."""

    pid: str
    """The person's id in the IPLOS file (its ``pePeID``), as written, stripped."""
    fid: str
    """The national id, as written, stripped. Never log, store or show it."""
    type_id: int | None
    """``typeID``, kodeverk 9032; None when it is not a number (the schema finding says so)."""

    def __repr__(self) -> str:
        return f"PatientIdent(pid={self.pid!r}, type_id={self.type_id!r})"


_CODE_DIGITS: Final = 4
"""A kodeverk 9032 code is a few digits; a longer run is no code (and int() of thousands of
digits is refused by Python)."""


class IdentFile:
    """One streaming, validating pass over an XPR(ide) 53.1.3 file.

    Iterate once for the ``PatientIdent``s; ``header`` is known from the first one on, and
    ``outcome`` (schema errors, whether the file was read to its end) when iteration ends.
    ``IdentFileError`` if the file cannot be opened.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_schema_errors: int = MAX_SCHEMA_ERRORS,
        max_located: int = MAX_LOCATED,
    ) -> None:
        self.path = path
        self.header: IdentHeader | None = None
        self._stream = ValidatingStream(
            path,
            schema(),
            (_PASIENT_IDENT,),
            release=(_PASIENT_IDENT,),
            error_type=IdentFileError,
            max_errors=max_schema_errors,
            max_located=max_located,
        )

    @property
    def outcome(self) -> StreamOutcome:
        return self._stream.outcome

    def __iter__(self) -> Iterator[PatientIdent]:
        for element in self._stream:
            if self.header is None:
                self.header = _header(element.getroottree().getroot())
            type_id = (element.get("typeID") or "").strip()
            yield PatientIdent(
                pid=(element.get("pid") or "").strip(),
                fid=(element.get("fid") or "").strip(),
                type_id=int(type_id)
                if type_id.isascii() and type_id.isdigit() and len(type_id) <= _CODE_DIGITS
                else None,
            )


def _header(root: etree._Element) -> IdentHeader:
    return IdentHeader(
        message_kind=root.get("meldingstype"),
        period_from=_date(root.get("fraDatoPeriode")),
        period_to=_date(root.get("tilDatoPeriode")),
        sequence_number=root.get("lopenr"),
    )


def _date(value: str | None) -> date | None:
    try:
        return None if value is None else date.fromisoformat(value.strip())
    except ValueError:
        return None
