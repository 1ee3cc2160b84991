"""The notification an EPJ system POSTs as JSON: the public API contract of KPR Gateway.

One notification is about one service event, in names a Norwegian EPJ developer maps in
minutes to the "IPLOS i KPR" message (XPR(ipl) 56.0.0): ``event_id`` is the
notifikasjonGUID, ``occurrence_id`` the hendelseGUID, ``kind`` chooses the event element,
``person`` is the ``Bruker``. The numbering (``notifikasjonLopeNr``,
``notifikasjonForrigeGUID``) is the gateway's, never the caller's.

Validation here checks forms and what one notification alone can tell (a correction names
its original, a stop has its stop id, an id fits its type). The data-quality rules (check
digits, service types valid on the date, test persons, the original known to the ledger) run
later in transform and are reported per event.

No validation error may carry a national id. Pydantic echoes the input in
``ValidationError.errors()``; the model hides it from ``str(exc)``
(``hide_input_in_errors``), reports unknown keys without echoing them, and
``describe_errors`` gives the list that is safe to store and return to the EPJ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kpr_gateway.messages.iplos_kpr.codes import (
    SERVICE_TYPES,
    EventKind,
    IdType,
    NotificationStatus,
)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# A key with six digits could hold a birth date or a national id ("fnr_14834812410").
_DIGITS_IN_NAME = re.compile(r"(?:[^0-9]*[0-9]){6}")
# Belt and braces: no run of 11 digits survives into an error text.
_ELEVEN_DIGITS = re.compile(r"[0-9]{11,}")
# A national id written into a text field, also as 6+5 digits with any separator.
# The shared first two digits are factored out: the engine tries fewer branches at each place
# (the text checks run for every notification, twice: in intake and in transform).
NATIONAL_ID_IN_TEXT: Final = re.compile(
    r"[0-9]{2}(?:"
    r"[0-9]{9}"  # 11 digits
    r"|[0-9]{4}[^0-9A-Za-z]{1,3}[0-9]{5}"  # 6+5
    r"|[^0-9A-Za-z][0-9]{2}[^0-9A-Za-z][0-9]{2}[^0-9A-Za-z]{1,3}[0-9]{5}"  # 2.2.2 5
    r")"
)
_SHORTEST_NATIONAL_ID: Final = 11
# Errors of a model validator have no location: their text starts with the field's name.
_NAMED_REASON = re.compile(r"^([a-z_]{1,40}): (.+)$", re.DOTALL)
# No control characters, and nothing XML cannot carry (surrogates, U+FFFE, U+FFFF): such a
# value would pass here and then fail its whole batch when the message is built.
_TEXT: Final = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]*")
_ID_FORMS: Final[Mapping[int, tuple[int, str]]] = {
    # id type -> (number of digits, the reason when it has another form)
    IdType.FODSELSNUMMER.value: (11, "national_id: a fødselsnummer is 11 digits"),
    IdType.D_NUMMER.value: (11, "national_id: a D-nummer is 11 digits"),
    IdType.H_NUMMER.value: (11, "national_id: an H-nummer is 11 digits"),
    IdType.ANNET.value: (6, "national_id: id type 9 (annet) is the birth date as ddmmyy"),
    IdType.DUF_NUMMER.value: (12, "national_id: a DUF-nummer is 12 digits"),
}
# Enum members looked up once: reading one from its class runs Python code every time, and
# the validators below run for every notification (also when transform reads a chunk).
_REPLACE: Final = NotificationStatus.REPLACE
_CANCEL: Final = NotificationStatus.CANCEL
_SUPPLEMENT: Final = NotificationStatus.SUPPLEMENT
_PROVIDER_CHANGED: Final = EventKind.PROVIDER_CHANGED
_STOP_FROM: Final = EventKind.TEMPORARY_STOP_FROM
_STOP_TO: Final = EventKind.TEMPORARY_STOP_TO


def _iso_date_only(value: object) -> object:
    # Pydantic's lax mode reads digit strings and numbers as Unix timestamps, so "20260105"
    # would become a day in 1970: accept only a date or a YYYY-MM-DD string.
    if type(value) is str and _ISO_DATE.fullmatch(value):  # the usual case first: JSON
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")


def _iso_datetime_only(value: object) -> object:
    # As for dates: a number or a digit string would be read as a Unix timestamp.
    if isinstance(value, str):
        if _ISO_DATETIME_START.match(value):
            return value
    elif isinstance(value, datetime):
        return value
    raise PydanticCustomError(
        "datetime_format", "must be a date and time written YYYY-MM-DDTHH:MM:SS with its offset"
    )


def _plain_text(max_length: int) -> Any:
    def check(value: object) -> object:
        if not isinstance(value, str):
            return value  # the str type reports it
        if not value or len(value) > max_length:
            raise PydanticCustomError("text_length", f"must be 1 to {max_length} characters")
        if value != value.strip() or not _TEXT.fullmatch(value):
            raise PydanticCustomError(
                "text_form",
                "no control or non-XML characters, no leading or trailing space",
            )
        if len(value) >= _SHORTEST_NATIONAL_ID and NATIONAL_ID_IN_TEXT.search(value):
            raise PydanticCustomError(
                "national_id_in_text", "must not contain a national id (11 digits)"
            )
        return value

    return BeforeValidator(check)


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
OrgNumber = Annotated[str, Field(pattern=r"^[0-9]{9}$")]
MunicipalityNumber = Annotated[str, Field(pattern=r"^[0-9]{4}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        # Pydantic's own extra_forbidden error puts the unknown key in its location and
        # so in str(exc); a key could be a national id sent in the wrong place.
        names = _FIELD_NAMES[cls.__name__]
        # type() first: isinstance against an ABC is slow, and JSON gives dicts
        if (type(data) is dict or isinstance(data, Mapping)) and not data.keys() <= names:
            unknown = [key for key in data if key not in names]
            shown = sorted(key for key in unknown if isinstance(key, str) and shown_field_name(key))
            parts = [", ".join(shown)] if shown else []
            if len(unknown) > len(shown):
                parts.append(f"{len(unknown) - len(shown)} more not shown")
            raise PydanticCustomError(
                "unknown_fields", "unknown field(s): {fields}", {"fields": "; ".join(parts)}
            )
        return data


class Person(_Strict):
    """The person the event is about: ``Bruker`` in the message (ident and health data travel
    together in the daily message, as the specification says)."""

    national_id: str = Field(
        repr=False,
        description=(
            "The person's official id (fid) of the type ``id_type``: 11 digits for "
            "fødselsnummer, D- and H-nummer, 12 for DUF-nummer, the birth date ddmmyy for 9."
        ),
    )
    id_type: IdType = Field(
        description=(
            "Kodeverk 9032: 1 fødselsnummer, 2 D-nummer, 3 H-nummer, 9 annet (birth date "
            "ddmmyy), 10 DUF-nummer. Only 1, 2 and 10 give a KPR-ID; the others are sent with "
            "a warning, as the register reports them back."
        ),
        examples=[1],
    )
    user_number: Annotated[str, _plain_text(100)] = Field(
        description=(
            "brukerNr: the EPJ's number of the person, the same within the municipality for "
            "all years. The person's pasientGUID is derived from it."
        ),
        examples=["100234"],
    )
    district: Annotated[str, _plain_text(6)] | None = Field(
        default=None, description="bydel: the district number the municipality uses, optional."
    )

    @model_validator(mode="after")
    def _id_fits_type(self) -> Self:
        digits, expected = _ID_FORMS[self.id_type._value_]
        national_id = self.national_id
        # isascii first: isdigit alone takes other scripts' digits too
        if len(national_id) != digits or not (national_id.isascii() and national_id.isdigit()):
            # The message is fixed: it must not quote the value.
            raise PydanticCustomError("national_id_format", expected)
        return self


class Notification(_Strict):
    """One notification about one service event, as an EPJ system POSTs it."""

    event_id: UUID = Field(
        description=(
            "notifikasjonGUID: this notification's id (a UUID). It makes the POST idempotent, "
            "and corrections name it in ``corrects``."
        )
    )
    status: NotificationStatus = Field(
        description=(
            "Kodeverk 7316: N original, M KorrigerErstatt (replaces the original named in "
            "``corrects``), C KorrigerAnnuller (cancels it). T is not used yet and is refused."
        )
    )
    corrects: UUID | None = Field(
        default=None,
        description=(
            "notifikasjonRef: the ``event_id`` of the original (N) notification that this M or "
            "C corrects; required for M and C, refused for N."
        ),
    )
    kind: EventKind = Field(
        description=(
            "The event: service_start (TjenesteStart), service_end (TjenesteSlutt), "
            "provider_changed (TjenesteutforerEndret), temporary_stop_from "
            "(MidlertidigStoppFra), temporary_stop_to (MidlertidigStoppTil)."
        )
    )
    occurrence_id: UUID = Field(
        description="hendelseGUID: the id of this version of the event (a UUID)."
    )
    service_id: Annotated[str, _plain_text(100)] = Field(
        description="tjenesteID: the EPJ's id of the service (the allocation).",
        examples=["TJ-2026-0042"],
    )
    service_type: str = Field(
        pattern=r"^[1-9][0-9]?$",
        description=(
            "tjenesteType, kodeverk 9151: e.g. '21' long-term stay in an institution, '29' "
            "housing. Judged by ``event_date`` (12, 13 and 16 only before 2019)."
        ),
        examples=["21"],
    )
    event_date: IsoDate = Field(description="hendelseDato: the day the event happened.")
    registered_at: IsoDateTime = Field(
        description=(
            "hendelseRegTid: when the event (or its correction) was registered in the EPJ, "
            "with its UTC offset, e.g. 2026-01-05T10:15:00+01:00."
        )
    )
    provider_org_number: OrgNumber | None = Field(
        default=None,
        description=(
            "tjenesteOrgNr: organisasjonsnummer of the provider; required for "
            "provider_changed, optional for the other kinds."
        ),
    )
    stop_id: Annotated[str, _plain_text(100)] | None = Field(
        default=None,
        description=(
            "midlertidigStoppID: links a temporary stop's from and to; required for both "
            "temporary_stop kinds, refused for the others."
        ),
    )
    municipality_number: MunicipalityNumber = Field(
        description="kommuneNr of the reporting municipality (4 digits).", examples=["0301"]
    )
    person: Person
    source_ref: Annotated[str, _plain_text(200)] | None = Field(
        default=None,
        description=(
            "The EPJ's own reference to the record behind this notification: kept in the "
            "ledger to trace it back to the source, never sent to KPR. No personal data."
        ),
    )

    @field_validator("service_type")
    @classmethod
    def _known_service_type(cls, value: str) -> str:
        if value not in SERVICE_TYPES:
            raise PydanticCustomError("unknown_service_type", "not a code of kodeverk 9151")
        return value

    @field_validator("event_id")
    @classmethod
    def _not_guid_empty(cls, value: UUID) -> UUID:
        # Guid.Empty stands for "no notification before" in the chain: the notification
        # after one with this id would read as the first of its municipality.
        if value.int == 0:
            raise PydanticCustomError("guid_empty", "must not be the nil UUID (Guid.Empty)")
        return value

    @field_validator("registered_at")
    @classmethod
    def _writable_in_utc(cls, value: datetime) -> datetime:
        # The message carries it in UTC; at the ends of the calendar the offset would push it
        # out of range (0001-01-01T00:15:00+01:00) and fail the batch when it is built.
        if _FIRST_YEAR < value.year < _LAST_YEAR:
            return value  # astimezone costs; only the calendar's first and last year can fail
        try:
            value.astimezone(UTC)
        except OverflowError as exc:
            raise PydanticCustomError(
                "datetime_range", "must lie within the years 1 to 9999 in UTC"
            ) from exc
        return value

    @field_validator("status")
    @classmethod
    def _status_in_use(cls, value: NotificationStatus) -> NotificationStatus:
        if value is _SUPPLEMENT:
            raise PydanticCustomError(
                "status_not_in_use",
                "status T (KorrigerSuppler) is not to be used yet, the specification says: "
                "send M to replace the original or C to cancel it",
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Identity tests, not set membership: hashing an Enum member runs Python code.
        status, kind, corrects = self.status, self.kind, self.corrects
        correction = status is _REPLACE or status is _CANCEL
        stop = kind is _STOP_FROM or kind is _STOP_TO
        if correction and corrects is None:
            raise PydanticCustomError(
                "corrects_missing", "corrects: a correction (M or C) names its original N"
            )
        if not correction and corrects is not None:
            raise PydanticCustomError(
                "corrects_not_allowed", "corrects: only a correction (M or C) names an original"
            )
        if corrects is not None and corrects == self.event_id:
            raise PydanticCustomError(
                "corrects_self", "corrects: a notification cannot correct itself"
            )
        if kind is _PROVIDER_CHANGED and self.provider_org_number is None:
            raise PydanticCustomError(
                "provider_missing", "provider_org_number: required for provider_changed"
            )
        if stop and self.stop_id is None:
            raise PydanticCustomError(
                "stop_id_missing", "stop_id: required for temporary_stop_from and _to"
            )
        if not stop and self.stop_id is not None:
            raise PydanticCustomError(
                "stop_id_not_allowed", "stop_id: only the temporary_stop kinds carry one"
            )
        return self


_FIRST_YEAR: Final = 1
_LAST_YEAR: Final = 9999

_FIELD_NAMES: Final = {
    Person.__name__: frozenset(Person.model_fields),
    Notification.__name__: frozenset(Notification.model_fields),
}


def describe_errors(exc: ValidationError) -> list[dict[str, str]]:
    """The errors of ``exc`` as ``{"field", "reason"}`` pairs, without any input values.

    Safe to log, store in the ledger and return to the EPJ.
    """
    return describe_error_entries(
        exc.errors(include_url=False, include_context=False, include_input=False)
    )


def describe_error_entries(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's error entries (``ValidationError.errors()``, also FastAPI's request
    validation errors) as ``{"field", "reason"}`` pairs; their ``input`` is never read."""
    described: list[dict[str, str]] = []
    for error in errors:
        field = _field_path(tuple(error["loc"]))
        reason = error["msg"]
        named = _NAMED_REASON.match(reason) if error["type"] not in _PYDANTIC_TYPES else None
        if named is not None:
            prefix = "" if field == "(event)" else f"{field}."
            field, reason = prefix + named.group(1), named.group(2)
        described.append({"field": field, "reason": _ELEVEN_DIGITS.sub("<digits>", reason)})
    return described


# Pydantic's own error types: their text is never read as "field: reason".
_PYDANTIC_TYPES: Final = frozenset({"value_error", "assertion_error"})


def shown_field_name(key: str) -> bool:
    """Whether a key from outside may be named in an error: field-like, without a run of
    digits that could be a birth date or a national id."""
    return _FIELD_NAME.fullmatch(key) is not None and _DIGITS_IN_NAME.match(key) is None


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            # A location part can be a key the client sent; show only field-like names.
            name = part if shown_field_name(part) else "<field>"
            path += f".{name}" if path else name
    return path or "(event)"
