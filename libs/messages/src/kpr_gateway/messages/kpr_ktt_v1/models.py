"""The event an EPJ system POSTs as JSON: the public API contract of KPR Gateway.

Validation here checks formats and plain sanity (an end date is not before the start
date). The data-quality rules (check digits, obsolete service codes, test persons) run
later and are reported per event.

No validation error may carry a national id. Pydantic echoes the input in
``ValidationError.errors()``; the model hides it from ``str(exc)``
(``hide_input_in_errors``), reports unknown keys without echoing them, and
``describe_errors`` gives the list that is safe to store and return to the EPJ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kpr_gateway.messages.kpr_ktt_v1.codes import SERVICE_TYPES, EventStatus

NATIONAL_ID_PATTERN: Final = "^[0-9]{11}$"
_NATIONAL_ID = re.compile(NATIONAL_ID_PATTERN)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Belt and braces: no run of 11 digits survives into an error text.
_ELEVEN_DIGITS = re.compile(r"[0-9]{11,}")


def _check_national_id(value: str) -> str:
    if not _NATIONAL_ID.fullmatch(value):
        # The message is fixed: it must not quote the value.
        raise PydanticCustomError(
            "national_id_format", "must be exactly 11 digits (fødselsnummer or D-number)"
        )
    return value


def _iso_date_only(value: object) -> object:
    # Pydantic's lax mode reads digit strings and numbers as Unix timestamps, so "20260105"
    # would become a day in 1970: accept only a date or a YYYY-MM-DD string.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")


def _check_service_code(value: str) -> str:
    if value not in SERVICE_TYPES:
        raise PydanticCustomError("unknown_service_code", "not a code of the KPR service list")
    return value


NationalId = Annotated[
    str,
    AfterValidator(_check_national_id),
    Field(json_schema_extra={"pattern": NATIONAL_ID_PATTERN}),
]
OrgNumber = Annotated[str, Field(pattern=r"^[0-9]{9}$")]
IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]


class KttEvent(BaseModel):
    """One service allocation (tjenestetildeling) event from an EPJ system."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    event_id: UUID = Field(
        description=(
            "The EPJ's own id of this allocation (a UUID). It makes the POST idempotent and "
            "links later corrections (status M, T) and cancellations (C) to the allocation."
        ),
    )
    status: EventStatus = Field(
        description=(
            "N = new allocation, M = correction replacing what was reported, "
            "T = correction supplementing what was reported, C = cancellation."
        ),
    )
    municipality_number: str = Field(
        pattern=r"^[0-9]{4}$",
        description="Kommunenummer (4 digits) of the municipality that made the decision.",
        examples=["0301"],
    )
    national_id: NationalId = Field(
        repr=False,
        description=(
            "The person's fødselsnummer or D-number (11 digits). It is sent to KPR only in "
            "the identity message (KPR_IDE); the service message carries a pseudonymous key."
        ),
    )
    service_code: str = Field(
        pattern=r"^[1-9][0-9]{0,2}$",
        description=(
            "Service type code of the KPR service list, e.g. '15' for home health care or "
            "'29' for housing; see kpr_ktt_v1.codes.SERVICE_TYPES."
        ),
        examples=["15"],
    )
    decision_date: IsoDate = Field(description="Date of the decision (vedtaksdato), ISO 8601.")
    start_date: IsoDate = Field(description="Date the service starts, ISO 8601.")
    stop_date: IsoDate | None = Field(
        default=None,
        description="Date the service is paused (temporarily stopped) from, if it is.",
    )
    end_date: IsoDate | None = Field(
        default=None,
        description="Date the service ends, if it has ended or its end is decided.",
    )
    hours_per_week: Decimal | None = Field(
        default=None,
        ge=0,
        le=168,
        decimal_places=2,
        description=(
            "Decided hours per week for hour-based services (0 to 168, at most two decimals); "
            "omit for services that are not measured in hours."
        ),
        examples=["7.5"],
    )
    provider_org_number: OrgNumber | None = Field(
        default=None,
        description="Organisasjonsnummer (9 digits) of the provider of a purchased service.",
    )
    case_reference: str | None = Field(
        default=None,
        pattern=r"^[!-~](?:[ -~]{0,62}[!-~])?$",
        description=(
            "The EPJ's reference to the decision or case: 1-64 printable ASCII characters, "
            "no leading or trailing space. Passed on unchanged; must not contain personal data."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        # Pydantic's own extra_forbidden error puts the unknown key in its location and
        # so in str(exc); a key could be a national id sent in the wrong place.
        if isinstance(data, Mapping) and not data.keys() <= _FIELD_NAMES:
            # _FIELD_NAMES, not cls.model_fields: that goes through a deprecation-checking
            # descriptor on every access, which cost more than the rest of the validation.
            unknown = [key for key in data if key not in _FIELD_NAMES]
            if unknown:
                shown = sorted(
                    key for key in unknown if isinstance(key, str) and _FIELD_NAME.fullmatch(key)
                )
                parts = [", ".join(shown)] if shown else []
                if len(unknown) > len(shown):
                    parts.append(f"{len(unknown) - len(shown)} more not shown")
                raise PydanticCustomError(
                    "unknown_fields", "unknown field(s): {fields}", {"fields": "; ".join(parts)}
                )
        return data

    @field_validator("service_code")
    @classmethod
    def _known_service_code(cls, value: str) -> str:
        return _check_service_code(value)

    @field_validator("stop_date")
    @classmethod
    def _stop_not_before_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start_date")
        if value is not None and start is not None and value < start:
            raise PydanticCustomError("date_order", "stop_date is before start_date")
        return value

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start_or_stop(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return value
        start = info.data.get("start_date")
        stop = info.data.get("stop_date")
        if start is not None and value < start:
            raise PydanticCustomError("date_order", "end_date is before start_date")
        if stop is not None and value < stop:
            raise PydanticCustomError("date_order", "end_date is before stop_date")
        return value


_FIELD_NAMES: Final = frozenset(KttEvent.model_fields)


def describe_errors(exc: ValidationError) -> list[dict[str, str]]:
    """The errors of ``exc`` as ``{"field", "reason"}`` pairs, without any input values.

    Safe to log, store in the ledger and return to the EPJ.
    """
    described: list[dict[str, str]] = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        described.append(
            {
                "field": _field_path(error["loc"]),
                "reason": _ELEVEN_DIGITS.sub("<digits>", error["msg"]),
            }
        )
    return described


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            # A location part can be a key the client sent; show only field-like names.
            name = part if _FIELD_NAME.fullmatch(part) else "<field>"
            path += f".{name}" if path else name
    return path or "(event)"
