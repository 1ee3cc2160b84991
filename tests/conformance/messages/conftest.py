"""Schema sets over the official XSDs: with our test payload, the default (IPLOS i KPR as the
package ships it), and one with the IPLOS i KPR schema straight from the standards folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.messages.iplos_kpr import NAMESPACE
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
    """Official schemas composed with the test payload and the IPLOS i KPR payload."""
    return SchemaSet(
        standards_dir,
        payloads=[PayloadSchema(PAYLOAD_NS, TEST_PAYLOAD_XSD), *kpr_payload_schemas()],
    )


@pytest.fixture(scope="session")
def default_schemas(standards_dir: Path) -> SchemaSet:
    """What the gateway uses: the official schemas and the IPLOS i KPR payload it ships."""
    return load_schema_set(standards_dir)


@pytest.fixture(scope="session")
def xpr_dir(standards_dir: Path) -> Path:
    """The official IPLOS i KPR 56.0.0 files: XSDs, specification text, condition table."""
    return standards_dir / "kpr" / "xpr-ipl-56.0.0"


@pytest.fixture(scope="session")
def official_xpr_schema(xpr_dir: Path) -> etree.XMLSchema:
    """XPR(ipl).xsd compiled from the standards folder, not from the package's copy."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(xpr_dir / "XPR(ipl).xsd"), parser))


@pytest.fixture(scope="session")
def official_schemas(standards_dir: Path, xpr_dir: Path) -> SchemaSet:
    """MsgHead composed with the IPLOS i KPR schema from the standards folder."""
    return SchemaSet(standards_dir, payloads=[PayloadSchema(NAMESPACE, xpr_dir / "XPR(ipl).xsd")])
