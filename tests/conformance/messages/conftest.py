"""Schema sets over the official XSDs: with our test payload, and the default (KPR KTT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.messages.schemas import (
    PayloadSchema,
    SchemaSet,
    kpr_payload_schemas,
    load_schema_set,
)
from tests.unit.messages.strategies import PAYLOAD_NS

TEST_PAYLOAD_XSD = Path(__file__).resolve().parent / "data" / "test-payload.xsd"


@pytest.fixture(scope="session")
def schemas(standards_dir: Path) -> SchemaSet:
    """Official schemas composed with the test payload and the KPR KTT payload."""
    return SchemaSet(
        standards_dir,
        payloads=[PayloadSchema(PAYLOAD_NS, TEST_PAYLOAD_XSD), *kpr_payload_schemas()],
    )


@pytest.fixture(scope="session")
def default_schemas(standards_dir: Path) -> SchemaSet:
    """What the gateway uses: the official schemas and the KPR KTT payload."""
    return load_schema_set(standards_dir)
