"""Sample KPR KTT events for the demo and tests: plausible, fictional, with valid check digits.

National ids here are made up: valid check digits and real dates, so they pass the gateway's
rules (a synthetic Tenor/Dolly id, month + 40 or + 80, is suppressed as a test person).
They are never sent anywhere but the built-in simulator.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

# Current codes from the KPR service list that need no extra fields.
_SERVICE_CODES = ("1", "4", "5", "7", "15", "18", "21", "29")


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    check = (11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11) % 11
    return None if check == 10 else check


def national_id(rng: random.Random, *, month_offset: int = 0) -> str:
    """A fictional id with valid check digits; ``month_offset=80`` makes a Tenor test person."""
    while True:
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
        individual = rng.randrange(0, 500)
        first_nine = (
            f"{born.day:02d}{born.month + month_offset:02d}{born.year % 100:02d}{individual:03d}"
        )
        k1 = _check_digit(first_nine, _K1)
        if k1 is None:
            continue
        k2 = _check_digit(first_nine + str(k1), _K2)
        if k2 is not None:
            return f"{first_nine}{k1}{k2}"


def event(
    rng: random.Random,
    municipality_number: str,
    *,
    person: str | None = None,
    service_code: str | None = None,
) -> dict[str, Any]:
    """One new-allocation event as an EPJ would POST it."""
    decided = date(2026, 1, 2) + timedelta(days=rng.randrange(0, 60))
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "status": "N",
        "municipality_number": municipality_number,
        "national_id": person or national_id(rng),
        "service_code": service_code or rng.choice(_SERVICE_CODES),
        "decision_date": decided.isoformat(),
        "start_date": (decided + timedelta(days=rng.randrange(0, 14))).isoformat(),
        "case_reference": f"SAK-{rng.randrange(10_000, 99_999)}",
    }


def sample_set(rng: random.Random, municipality_number: str, count: int) -> list[dict[str, Any]]:
    """``count`` valid events plus the demo's deliberate cases: an obsolete service code,
    a malformed event, and a synthetic test person."""
    events = [event(rng, municipality_number) for _ in range(count)]
    events.append(event(rng, municipality_number, service_code="12"))  # obsolete since 2019
    broken = event(rng, municipality_number)
    broken["start_date"] = "not-a-date"
    events.append(broken)
    events.append(event(rng, municipality_number, person=national_id(rng, month_offset=80)))
    return events
