"""Sample notifications (IPLOS i KPR) for the demo and tests: plausible, fictional, valid.

National ids here are made up: valid check digits and real dates, so they pass the gateway's
rules (a synthetic Tenor/Dolly id, month + 40 or + 80, is suppressed as a test person).
They are never sent anywhere but the built-in simulator.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final

from kpr_gateway.messages.iplos_kpr import EventKind, IdType

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

# Codes of kodeverk 9151 valid today: the first phase (18-21, 29) and a few home services.
_SERVICE_TYPES = ("1", "4", "15", "18", "19", "20", "21", "29")
_NORWAY_WINTER: Final = timezone(timedelta(hours=1))
_PROVIDERS = ("987654325", "974760673", "983544622")
FIRST_DAY: Final = date(2026, 1, 2)
_STORY: Final = (
    EventKind.SERVICE_START,
    EventKind.PROVIDER_CHANGED,
    EventKind.TEMPORARY_STOP_FROM,
    EventKind.TEMPORARY_STOP_TO,
    EventKind.SERVICE_END,
)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    check = (11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11) % 11
    return None if check == 10 else check


def national_id(rng: random.Random, *, month_offset: int = 0, day_offset: int = 0) -> str:
    """A fictional id with valid check digits; ``month_offset=80`` makes a Tenor test person,
    ``day_offset=40`` a D-nummer."""
    while True:
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
        individual = rng.randrange(0, 500)
        first_nine = (
            f"{born.day + day_offset:02d}{born.month + month_offset:02d}"
            f"{born.year % 100:02d}{individual:03d}"
        )
        k1 = _check_digit(first_nine, _K1)
        if k1 is None:
            continue
        k2 = _check_digit(first_nine + str(k1), _K2)
        if k2 is not None:
            return f"{first_nine}{k1}{k2}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_person(
    rng: random.Random,
    *,
    national: str | None = None,
    id_type: IdType = IdType.FODSELSNUMMER,
    district: str | None = None,
) -> dict[str, Any]:
    """The ``person`` of a notification; a new user number each time unless given a copy."""
    data: dict[str, Any] = {
        "national_id": national or national_id(rng),
        "id_type": id_type.value,
        "user_number": str(rng.randrange(100_000, 999_999)),
    }
    if district is not None:
        data["district"] = district
    return data


def event(
    rng: random.Random,
    municipality_number: str,
    *,
    person: str | None = None,
    service_type: str | None = None,
    kind: EventKind | None = None,
    on: date | None = None,
) -> dict[str, Any]:
    """One original (N) notification as an EPJ would POST it; the kind and its required
    fields (provider, stop id) chosen at random unless given; ``person`` is a national id
    (fødselsnummer)."""
    chosen = kind or rng.choice(list(EventKind))
    day = on or FIRST_DAY + timedelta(days=rng.randrange(0, 60))
    registered = datetime.combine(
        day + timedelta(days=rng.randrange(0, 3)),
        time(rng.randrange(7, 16), rng.randrange(0, 60)),
        _NORWAY_WINTER,
    )
    data: dict[str, Any] = {
        "event_id": _uuid(rng),
        "status": "N",
        "kind": chosen.value,
        "occurrence_id": _uuid(rng),
        "service_id": f"TJ-{day.year}-{rng.randrange(1, 99_999):05d}",
        "service_type": service_type or rng.choice(_SERVICE_TYPES),
        "event_date": day.isoformat(),
        "registered_at": registered.isoformat(),
        "municipality_number": municipality_number,
        "person": make_person(rng, national=person),
        "source_ref": f"EPJ:VEDTAK:{rng.randrange(1, 999_999)}",
    }
    if chosen.requires_provider:
        data["provider_org_number"] = rng.choice(_PROVIDERS)
    if chosen.has_stop_id:
        data["stop_id"] = f"STOPP-{rng.randrange(1, 99_999)}"
    return data


def correction(
    rng: random.Random,
    original: dict[str, Any],
    status: str,
    *,
    days_later: int = 1,
    **changes: Any,
) -> dict[str, Any]:
    """An M (replace) or C (cancel) of ``original``: a new notification naming it, registered
    ``days_later``, with ``changes`` applied (an M carries the event as it now stands)."""
    registered = datetime.fromisoformat(original["registered_at"]) + timedelta(days=days_later)
    corrected = dict(original)
    corrected.update(
        event_id=_uuid(rng),
        status=status,
        corrects=original["event_id"],
        occurrence_id=_uuid(rng),
        registered_at=registered.isoformat(),
    )
    corrected.update(changes)
    return corrected


def service_story(rng: random.Random, municipality_number: str) -> list[dict[str, Any]]:
    """One person's long-term stay through every kind of event, in the order they happened:
    start, provider changed, a temporary stop from and to, end."""
    who = make_person(rng, district=f"{municipality_number}01")
    start = FIRST_DAY + timedelta(days=rng.randrange(0, 10))
    stop_id = f"STOPP-{rng.randrange(1, 99_999)}"
    service_id = f"TJ-{start.year}-{rng.randrange(1, 99_999):05d}"
    story = []
    for offset, kind in enumerate(_STORY):
        item = event(rng, municipality_number, service_type="21", kind=kind)
        item.update(
            person=dict(who),
            service_id=service_id,
            event_date=(start + timedelta(days=7 * offset)).isoformat(),
            registered_at=datetime.combine(
                start + timedelta(days=7 * offset), time(12, 0), _NORWAY_WINTER
            ).isoformat(),
        )
        if kind.has_stop_id:
            item["stop_id"] = stop_id
        story.append(item)
    return story


def sample_set(rng: random.Random, municipality_number: str, count: int) -> list[dict[str, Any]]:
    """``count`` valid notifications plus the demo's deliberate cases: every kind of event for
    one person; an original with its replacement (M) and its cancellation (C); a person known
    only by birth date (id type 9, sent with a warning); a notification the API refuses
    (a provider change without the provider); and a synthetic test person (suppressed)."""
    events = [event(rng, municipality_number) for _ in range(count)]
    events += service_story(rng, municipality_number)
    original = event(rng, municipality_number, kind=EventKind.SERVICE_START, service_type="18")
    later = (datetime.fromisoformat(original["event_date"]) + timedelta(days=2)).date()
    events += [
        original,
        correction(rng, original, "M", event_date=later.isoformat()),
        correction(rng, original, "C", days_later=2),
    ]
    born = date(1931, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
    birth_date_only = event(rng, municipality_number)
    birth_date_only["person"] = make_person(
        rng, national=born.strftime("%d%m%y"), id_type=IdType.ANNET
    )
    events.append(birth_date_only)
    broken = event(rng, municipality_number, kind=EventKind.PROVIDER_CHANGED)
    del broken["provider_org_number"]
    events.append(broken)
    events.append(event(rng, municipality_number, person=national_id(rng, month_offset=80)))
    return events
