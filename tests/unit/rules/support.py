"""Fictional national ids with valid check digits, a tenant and a valid notification, for the
rules' tests.

Check digits come from python-stdnum, the library the rules use.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

from stdnum.no import fodselsnummer

from kpr_gateway.messages.iplos_kpr import Notification, Person
from kpr_gateway.tenancy import Tenant

BERGEN_ORG = "964338531"
TRONDHEIM_ORG = "942110464"


def national_id(born: date, *, d_number: bool = False, month_offset: int = 0, nth: int = 0) -> str:
    """The ``nth`` id with valid check digits for someone born on ``born``.

    ``d_number`` raises the day by 40; ``month_offset`` 40 or 80 makes a synthetic test id
    (for a fødselsnummer or D-number) or, 40, an H-nummer.
    """
    day = born.day + (40 if d_number else 0)
    first_six = f"{day:02d}{born.month + month_offset:02d}{born.year % 100:02d}"
    return with_check_digits(first_six, twentieth_century=born.year < 2000, nth=nth)


def h_number(born: date, *, nth: int = 0) -> str:
    """An H-nummer with valid check digits: the month raised by 40."""
    return national_id(born, month_offset=40, nth=nth)


def with_check_digits(first_six: str, *, twentieth_century: bool = True, nth: int = 0) -> str:
    """The ``nth`` 11-digit number starting with ``first_six`` whose check digits are valid."""
    individuals = range(0, 500) if twentieth_century else range(500, 1000)
    found = 0
    for individual in individuals:
        nine = f"{first_six}{individual:03d}"
        k1 = fodselsnummer.calc_check_digit1(nine)
        k2 = fodselsnummer.calc_check_digit2(nine + k1)
        if len(k1) == 1 and len(k2) == 1:
            if found == nth:
                return nine + k1 + k2
            found += 1
    raise ValueError("no such number")


def tenant_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "bergen",
        "municipality_number": "4601",
        "name": "Bergen kommune",
        "org_number": BERGEN_ORG,
        "her_id": "50001",
        "communication_party": {"name": "Saksbehandling", "her_id": "50002"},
        "environment": "validation",
        "pseudonym_secret_file": "secrets/bergen.key",
    }
    data.update(overrides)
    return data


def tenant(**overrides: Any) -> Tenant:
    return Tenant.model_validate(tenant_data(**overrides))


PERSON = national_id(date(1948, 3, 17))
"""The fødselsnummer of the person in ``event_data``."""
DUF = "201400123456"
"""A DUF-nummer (twelve digits; no check digits to satisfy)."""

_PERSON_FIELDS = frozenset(Person.model_fields)


def event_data(**overrides: Any) -> dict[str, Any]:
    """A valid notification as JSON: a service start in Bergen, 2026, of a fødselsnummer.

    Overrides of the person's fields (``national_id``, ``id_type``, ``user_number``,
    ``district``) go into ``person``; ``person=`` replaces it whole. A value of None removes
    the field.
    """
    person: dict[str, Any] = {
        "national_id": PERSON,
        "id_type": 1,
        "user_number": "100234",
        "district": "460101",
    }
    data: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "status": "N",
        "kind": "service_start",
        "occurrence_id": str(uuid.uuid4()),
        "service_id": "TJ-2026-0042",
        "service_type": "21",
        "event_date": "2026-01-05",
        "registered_at": "2026-01-05T10:15:00+01:00",
        "municipality_number": "4601",
        "person": person,
    }
    for name, value in overrides.items():
        target = person if name in _PERSON_FIELDS else data
        target[name] = value
    data = {key: value for key, value in data.items() if value is not None}
    if isinstance(data.get("person"), dict):
        data["person"] = {key: value for key, value in data["person"].items() if value is not None}
    return data


def event(**overrides: Any) -> Notification:
    """``event_data(**overrides)`` as a validated ``Notification``."""
    return Notification.model_validate(event_data(**overrides))


def write_secret(directory: Path) -> None:
    (directory / "secrets").mkdir(exist_ok=True)
    (directory / "secrets" / "bergen.key").write_bytes(b"0123456789abcdef0123456789abcdef-test")
