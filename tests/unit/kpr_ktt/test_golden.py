"""Golden files: the documents built from tests/golden/kpr_ktt/events.ndjson, byte for byte.

After an intended change to the format, regenerate them and review the diff:

    KPRGW_UPDATE_GOLDEN=1 uv run pytest tests/unit/kpr_ktt/test_golden.py

events.ndjson is hand-written input (also used by ``kprgw kpr build``) and is never rewritten.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1 import (
    XSD_PATH,
    EventStatus,
    KprBatch,
    KttEvent,
    build_fagmelding,
    build_identmelding,
    to_bytes,
)
from tests.unit.kpr_ktt.synthetic import has_valid_check_digits, org_number_with_check_digit

GOLDEN_SECRET = b"golden-tenant-secret/not-for-production"
UPDATE = os.environ.get("KPRGW_UPDATE_GOLDEN") == "1"


@pytest.fixture
def kpr_golden(golden_dir: Path) -> Path:
    return golden_dir / "kpr_ktt"


@pytest.fixture
def events(kpr_golden: Path) -> list[KttEvent]:
    lines = (kpr_golden / "events.ndjson").read_text(encoding="utf-8").splitlines()
    return [KttEvent.model_validate_json(line) for line in lines if line.strip()]


@pytest.fixture
def golden_batch(events: list[KttEvent]) -> KprBatch:
    return KprBatch(
        message_id=UUID("0f6b3c1e-9a7d-4e2b-8c5f-1d2e3f4a5b6c"),
        created=datetime(2026, 1, 6, 2, 0, tzinfo=UTC),
        municipality_number="0301",
        reporter_org_number="923456783",
        events=events,
        tenant_secret=GOLDEN_SECRET,
    )


def test_example_events_are_valid_and_varied(events: list[KttEvent]) -> None:
    assert len({event.national_id for event in events}) == 2
    assert {event.status for event in events} == set(EventStatus)
    assert all(has_valid_check_digits(event.national_id) for event in events)
    for event in events:
        org = event.provider_org_number
        assert org is None or org_number_with_check_digit(org[:8]) == org
    assert org_number_with_check_digit("92345678") == "923456783"


@pytest.mark.parametrize(
    ("name", "build"),
    [("fagmelding.xml", build_fagmelding), ("identmelding.xml", build_identmelding)],
)
def test_golden_document(
    kpr_golden: Path,
    golden_batch: KprBatch,
    name: str,
    build: Callable[[KprBatch], etree._Element],
) -> None:
    built = to_bytes(build(golden_batch))
    path = kpr_golden / name
    if UPDATE:
        path.write_bytes(built)
    assert built == path.read_bytes(), f"{name} differs; see this module's docstring"
    etree.XMLSchema(file=str(XSD_PATH)).assertValid(etree.fromstring(path.read_bytes()))
