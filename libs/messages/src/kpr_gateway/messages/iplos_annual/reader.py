"""A streaming reader of the annual IPLOS 3.7 file: the header and, per PERSON, only what
the annual checks need.

One validating pass (``streaming.ValidatingStream``): the ``INNHINFO`` header first, then
one ``AnnualPerson`` per ``PERSON``, each built from its element and then freed. Values
the schema would refuse (a ``tjTjenType`` that is not a number) come through as None: the
schema finding reports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from lxml import etree

from kpr_gateway.messages.iplos_annual.errors import AnnualFileError
from kpr_gateway.messages.iplos_annual.streaming import (
    MAX_LOCATED,
    MAX_SCHEMA_ERRORS,
    StreamOutcome,
    ValidatingStream,
)
from kpr_gateway.messages.iplos_annual.xsd import qname, schema

_INNHINFO: Final = qname("INNHINFO")
_PERSON: Final = qname("PERSON")
_TJ_TYPE: Final = qname("tjTjenType")
_TJ_ORG: Final = qname("tjInstOrgnr")
_DG_ORG: Final = qname("dgInstOrgnr")
# An xs:long has at most 19 digits; a longer run is kept as text (and is no id of either file).
_LONG: Final = re.compile(r"[+-]?[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class AnnualHeader:
    """``INNHINFO``: whose data, for which period, from which system. Absent or unreadable
    values are None (the schema finding says why)."""

    content_type: str | None
    """``iiInnhType``, always P (person data)."""
    municipality_number: str | None
    """``iiKomnr``."""
    district: str | None
    """``iiBydelsnr``."""
    period_from: date | None
    """``iiFraDato``."""
    period_to: date | None
    """``iiTilDato``."""
    created: date | None
    """``iiLagetDato``."""
    system_id: str | None
    """``iiSysID``."""
    system_version: str | None
    """``iiSysVersjon``."""
    sequence_number: int | None
    """``iiLopenr``: rises by one per file sent for the year."""


@dataclass(frozen=True, slots=True)
class AnnualPerson:
    """One ``PERSON``: its id in the file and what the annual checks look at."""

    person_id: str
    """``pePeID`` in canonical form (``canonical_id``): the key of the person's
    ``PasientIdent`` (``pid``) in the identity file."""
    service_types: tuple[int | None, ...]
    """``tjTjenType`` of each ``TJENESTE`` (kodeverk 9151); None where it is not a number."""
    org_numbers: tuple[str, ...]
    """Every non-empty ``tjInstOrgnr`` and ``dgInstOrgnr`` of the person, as written
    (surrounding space removed)."""


def canonical_id(text: str | None) -> str:
    """An id as the two files can be matched on: an xs:long without sign, leading zeros or
    surrounding space (``pePeID`` is one; ``pid`` is a string that should hold it); any
    other text as it is, stripped."""
    if text is not None and text.isdigit() and text.isascii() and text[0] != "0":
        return text  # the usual form, without the work below
    value = (text or "").strip()
    if _LONG.fullmatch(value):
        return str(int(value))
    return value


class AnnualFile:
    """One streaming, validating pass over an annual IPLOS 3.7 file.

    Iterate once: an ``AnnualHeader`` (when the file has an ``INNHINFO``), then one
    ``AnnualPerson`` per ``PERSON``. ``outcome`` (schema errors, whether the file was read to
    its end) is final when iteration ends. ``AnnualFileError`` if the file cannot be opened.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_schema_errors: int = MAX_SCHEMA_ERRORS,
        max_located: int = MAX_LOCATED,
    ) -> None:
        self.path = path
        self._stream = ValidatingStream(
            path,
            schema(),
            (_INNHINFO, _PERSON, _TJ_TYPE, _TJ_ORG, _DG_ORG),
            release=(_INNHINFO, _PERSON),
            error_type=AnnualFileError,
            max_errors=max_schema_errors,
            max_located=max_located,
        )

    @property
    def outcome(self) -> StreamOutcome:
        return self._stream.outcome

    def __iter__(self) -> Iterator[AnnualHeader | AnnualPerson]:
        service_types: list[int | None] = []
        org_numbers: list[str] = []
        for element in self._stream:
            tag = element.tag
            if tag == _TJ_TYPE:
                service_types.append(_short(element.text))
            elif tag in (_TJ_ORG, _DG_ORG):
                org_number = _text(element.text)
                if org_number is not None:
                    org_numbers.append(org_number)
            elif tag == _PERSON:
                yield AnnualPerson(
                    canonical_id(element.get("pePeID")), tuple(service_types), tuple(org_numbers)
                )
                service_types.clear()
                org_numbers.clear()
            else:
                yield _header(element)


def _header(element: etree._Element) -> AnnualHeader:
    def text(local: str) -> str | None:
        return _text(element.findtext(qname(local)))

    return AnnualHeader(
        content_type=text("iiInnhType"),
        municipality_number=text("iiKomnr"),
        district=text("iiBydelsnr"),
        period_from=_date(text("iiFraDato")),
        period_to=_date(text("iiTilDato")),
        created=_date(text("iiLagetDato")),
        system_id=text("iiSysID"),
        system_version=text("iiSysVersjon"),
        sequence_number=_short(text("iiLopenr"), bits=32),
    )


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _short(value: str | None, *, bits: int = 16) -> int | None:
    """An xs:short (or xs:int) as the schema reads it; None when it is none."""
    if value is not None and value.isdigit() and value.isascii() and len(value) < 5:
        return int(value)  # the usual form, without the work below
    stripped = _text(value)
    if stripped is None or not _LONG.fullmatch(stripped):
        return None
    number = int(stripped)
    limit = 1 << (bits - 1)
    return number if -limit <= number < limit else None


def _date(value: str | None) -> date | None:
    """``DatoType``: YYYYMMDD."""
    if value is None or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None
