"""Hypothesis: any batch the gateway accepts builds a Melding that validates against the
official XPR(ipl).xsd 56.0.0 (from the standards folder, not the package's copy) and parses back
to every field it was built from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from kpr_gateway.messages.iplos_kpr import build_melding, parse_melding, to_bytes
from tests.unit.iplos_kpr.examples import expected_header, expected_notification
from tests.unit.iplos_kpr.strategies import Batch, batches

ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def official_schema(standards_dir: Path) -> etree.XMLSchema:
    return etree.XMLSchema(
        etree.parse(str(standards_dir / "kpr" / "xpr-ipl-56.0.0" / "XPR(ipl).xsd"))
    )


@ROUND_TRIP
@given(batch=batches())
def test_build_validate_parse(official_schema: etree.XMLSchema, batch: Batch) -> None:
    data = to_bytes(build_melding(batch.header, batch.numbered))
    document = etree.fromstring(data)
    assert official_schema.validate(document), official_schema.error_log
    parsed = parse_melding(data)
    assert parsed.header == expected_header(batch.header)
    assert parsed.notifications == tuple(expected_notification(item) for item in batch.numbered)
    assert to_bytes(build_melding(batch.header, batch.numbered)) == data


@ROUND_TRIP
@given(batch=batches(max_size=4))
def test_source_ref_changes_nothing_in_the_document(batch: Batch) -> None:
    # It is kept in the ledger for tracing, never sent.
    without = [
        dataclasses.replace(
            item, notification=item.notification.model_copy(update={"source_ref": None})
        )
        for item in batch.numbered
    ]
    assert to_bytes(build_melding(batch.header, without)) == to_bytes(
        build_melding(batch.header, batch.numbered)
    )
