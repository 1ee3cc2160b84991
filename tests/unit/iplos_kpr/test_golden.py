"""Golden file: the Melding built from tests/golden/iplos_kpr/events.ndjson, byte for byte.

After an intended change to the format, regenerate it and review the diff:

    KPRGW_UPDATE_GOLDEN=1 uv run pytest tests/unit/iplos_kpr/test_golden.py

events.ndjson is hand-written input and is never rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from lxml import etree

from kpr_gateway.messages.iplos_kpr import (
    EventKind,
    IdType,
    NotificationStatus,
    parse_melding,
    to_bytes,
)
from tests.unit.iplos_kpr.golden import MELDING, golden_events, golden_melding
from tests.unit.iplos_kpr.synthetic import (
    has_valid_check_digits,
    has_valid_duf_check_digits,
    org_number_with_check_digit,
)

UPDATE = os.environ.get("KPRGW_UPDATE_GOLDEN") == "1"


def test_the_events_cover_the_format() -> None:
    events = golden_events()
    assert {event.kind for event in events} == set(EventKind)
    assert {event.status for event in events} == set(NotificationStatus) - {
        NotificationStatus.SUPPLEMENT
    }
    assert {event.person.id_type for event in events} == set(IdType)
    for optional in ("provider_org_number", "stop_id", "source_ref"):
        assert {getattr(event, optional) is None for event in events} == {True, False}
    assert {event.person.district is None for event in events} == {True, False}
    assert {event.municipality_number for event in events} == {"0301"}
    assert len({event.event_id for event in events}) == len(events)


def test_corrections_follow_the_originals_they_name() -> None:
    seen: dict[object, NotificationStatus] = {}
    for event in golden_events():
        if event.corrects is not None:
            assert seen.get(event.corrects) is NotificationStatus.ORIGINAL
        seen[event.event_id] = event.status


def test_the_ids_are_synthetic_with_valid_check_digits() -> None:
    for event in golden_events():
        person = event.person
        if person.id_type in (IdType.FODSELSNUMMER, IdType.D_NUMMER):
            assert has_valid_check_digits(person.national_id)
            assert int(person.national_id[2:4]) > 80  # Tenor's synthetic months
        elif person.id_type is IdType.H_NUMMER:
            assert has_valid_check_digits(person.national_id)
        elif person.id_type is IdType.DUF_NUMMER:
            assert has_valid_duf_check_digits(person.national_id)
        org = event.provider_org_number
        assert org is None or org_number_with_check_digit(org[:8]) == org


def test_golden_melding(standards_dir: Path) -> None:
    built = to_bytes(golden_melding())
    if UPDATE:
        MELDING.write_bytes(built)
    assert MELDING.is_file(), f"missing {MELDING}; run with KPRGW_UPDATE_GOLDEN=1 to create it"
    assert built == MELDING.read_bytes(), "melding.xml differs; see this module's docstring"
    official = standards_dir / "kpr" / "xpr-ipl-56.0.0" / "XPR(ipl).xsd"
    etree.XMLSchema(etree.parse(str(official))).assertValid(etree.fromstring(built))


def test_golden_melding_numbers_the_chain_from_one() -> None:
    parsed = parse_melding(MELDING.read_bytes())
    assert [n.seq for n in parsed.notifications] == list(range(1, len(golden_events()) + 1))
    assert [n.event_id for n in parsed.notifications] == [e.event_id for e in golden_events()]
