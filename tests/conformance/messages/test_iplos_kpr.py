"""IPLOS i KPR against the official XPR(ipl) 56.0.0 in the standards folder: the package ships
the official XSDs byte for byte, every document the gateway builds validates against the
official files on its own and inside its MsgHead, and a broken one does not."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from kpr_gateway.messages.iplos_kpr import (
    NAMESPACE,
    XSD_DIR,
    XSD_FILES,
    EventKind,
    IdType,
    KprDocumentError,
    build_melding,
    to_bytes,
    validate_document,
)
from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.messages.schemas import validate_document as validate_by_namespace
from kpr_gateway.messages.shipments import build_shipment
from tests.unit.iplos_kpr.examples import HEADER, NATIONAL_IDS, notification, numbered
from tests.unit.iplos_kpr.golden import MELDING, golden_melding
from tests.unit.iplos_kpr.strategies import Batch, batches

XS = "{http://www.w3.org/2001/XMLSchema}"
NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
SENDER = Organisation("Oslo kommune", "90001", "958935420", Organisation("Saksbehandling", "90002"))
RECEIVER = Organisation("Folkehelseinstituttet", "85217", None, Organisation("KPR", "171479"))
GOLDEN_MSGHEAD = Path(__file__).resolve().parents[2] / "golden" / "messages" / "msghead-kpr-ipl.xml"


def msghead_of(melding: etree._Element) -> bytes:
    return build_shipment(
        sender=SENDER, receiver=RECEIVER, melding=melding, msg_id=uuid.uuid4(), now=NOW
    ).document


def assert_valid_everywhere(
    melding: etree._Element, official: etree.XMLSchema, schema_sets: list[SchemaSet]
) -> None:
    data = to_bytes(melding)
    assert official.validate(etree.fromstring(data)), official.error_log
    validate_document(melding)  # the package's own check (its copy of the XSD)
    for schema_set in schema_sets:
        assert validate_by_namespace(data, schema_set) == []
        assert validate_by_namespace(msghead_of(melding), schema_set) == []


# ----------------------------------------------------------------------------- the copies


def referenced_schemas(directory: Path, name: str) -> Iterator[str]:
    """``name`` and every schema it includes or imports, transitively."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        root = etree.parse(str(directory / current)).getroot()
        for reference in itertools.chain(root.iter(f"{XS}include"), root.iter(f"{XS}import")):
            location = reference.get("schemaLocation")
            assert location is not None
            pending.append(location)


def test_shipped_schemas_are_the_official_files_byte_for_byte(xpr_dir: Path) -> None:
    for name in XSD_FILES:
        assert (XSD_DIR / name).read_bytes() == (xpr_dir / name).read_bytes(), name


def test_the_package_ships_every_schema_the_official_one_needs(xpr_dir: Path) -> None:
    needed = set(referenced_schemas(xpr_dir, "XPR(ipl).xsd"))
    assert needed == set(XSD_FILES)
    assert {path.name for path in XSD_DIR.iterdir()} == needed


# ----------------------------------------------------------------------------- valid


def test_the_golden_melding_validates(
    official_xpr_schema: etree.XMLSchema,
    default_schemas: SchemaSet,
    official_schemas: SchemaSet,
) -> None:
    melding = golden_melding()
    assert to_bytes(melding) == MELDING.read_bytes()
    assert_valid_everywhere(melding, official_xpr_schema, [default_schemas, official_schemas])


def test_the_golden_msghead_validates(
    default_schemas: SchemaSet, official_schemas: SchemaSet
) -> None:
    data = GOLDEN_MSGHEAD.read_bytes()
    assert f'xmlns="{NAMESPACE}"'.encode() in data
    assert validate_by_namespace(data, default_schemas) == []
    assert validate_by_namespace(data, official_schemas) == []


def combinations() -> list[dict[str, Any]]:
    """Every kind as N, M and C, with every id type, with and without a district."""
    extras: dict[EventKind, dict[str, str]] = {
        EventKind.PROVIDER_CHANGED: {"provider_org_number": "987654325"},
        EventKind.TEMPORARY_STOP_FROM: {"stop_id": "STOPP-1"},
        EventKind.TEMPORARY_STOP_TO: {"stop_id": "STOPP-1"},
    }
    cases = []
    for kind, status, id_type, district in itertools.product(
        EventKind, "NMC", IdType, ("030101", None)
    ):
        case: dict[str, Any] = {
            "kind": kind.value,
            "status": status,
            "person": {
                "id_type": id_type.value,
                "national_id": NATIONAL_IDS[id_type.value],
                "district": district,
            },
            **extras.get(kind, {}),
        }
        if status != "N":
            case["event_id"] = "3b0f8c9e-5a61-4c1e-9d2a-0000000000ff"
            case["corrects"] = "3b0f8c9e-5a61-4c1e-9d2a-000000000001"
        cases.append(case)
    return cases


@pytest.mark.parametrize(
    "case",
    combinations(),
    ids=lambda c: (
        f"{c['kind']}-{c['status']}-{c['person']['id_type']}-"
        f"{'district' if c['person']['district'] else 'none'}"
    ),
)
def test_every_kind_status_and_id_type_validates(
    case: dict[str, Any],
    official_xpr_schema: etree.XMLSchema,
    default_schemas: SchemaSet,
    official_schemas: SchemaSet,
) -> None:
    melding = build_melding(HEADER, numbered([notification(**case)]))
    assert_valid_everywhere(melding, official_xpr_schema, [default_schemas, official_schemas])


def test_all_combinations_in_one_message_validate(
    official_xpr_schema: etree.XMLSchema, official_schemas: SchemaSet
) -> None:
    items = [
        notification(**{**case, "event_id": str(uuid.UUID(int=index + 1))})
        for index, case in enumerate(combinations())
    ]
    melding = build_melding(HEADER, numbered(items))
    assert len(melding.findall(f"{{{NAMESPACE}}}Notifikasjon")) == len(items) == 150
    assert_valid_everywhere(melding, official_xpr_schema, [official_schemas])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches())
def test_generated_documents_validate(
    official_xpr_schema: etree.XMLSchema, official_schemas: SchemaSet, batch: Batch
) -> None:
    melding = build_melding(batch.header, batch.numbered)
    assert_valid_everywhere(melding, official_xpr_schema, [official_schemas])


# ----------------------------------------------------------------------------- invalid

NOTIFICATION_GUID = 'notifikasjonGUID="3b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b02"'


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # An attribute the schema does not know, and one it prohibits.
        (' fid="', ' fodselsnummer="1" fid="'),
        (' fid="', ' kjonn="1" fid="'),
        ('versjonUt="0.1.0"', 'versjonUt="0.1.0" lopenr="1"'),
        ('<Kommune kommuneNr="0301"/>', '<Kommune kommuneNr="0301" kommuneOrgNr="1"/>'),
        # Values of the wrong form.
        ('notifikasjonLopeNr="2"', 'notifikasjonLopeNr="2" notifikasjonRef="not-a-guid"'),
        (NOTIFICATION_GUID, 'notifikasjonGUID="3b0f8c9e5a614c1e9d2a0c7e8f1a2b02"'),
        ('hendelseDato="2026-01-06"', 'hendelseDato="06.01.2026"'),
        ('bydel="030101"', 'bydel="0301011"'),
        ('versjon="56.0.0"', 'versjon="56.0"'),
        ('meldingstype="K"', 'meldingstype="B"'),
        # A required attribute missing.
        (' tjenesteType="18"', ""),
        (' typeID="2"', ""),
        ('tjenesteOrgNr="987654325"', ""),  # required when the provider changed
        # midlertidigStoppID belongs to the temporary stops only.
        ('hendelseDato="2026-01-06"', 'hendelseDato="2026-01-06" midlertidigStoppID="S"'),
        # The same notifikasjonGUID twice.
        (NOTIFICATION_GUID, 'notifikasjonGUID="3b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b01"'),
    ],
)
def test_a_document_with_a_wrong_attribute_fails(
    old: str,
    new: str,
    official_xpr_schema: etree.XMLSchema,
    default_schemas: SchemaSet,
    official_schemas: SchemaSet,
) -> None:
    data = to_bytes(golden_melding()).decode()
    assert old in data
    broken = data.replace(old, new, 1).encode()
    assert not official_xpr_schema.validate(etree.fromstring(broken))
    with pytest.raises(KprDocumentError, match="not valid against XPR"):
        validate_document(etree.fromstring(broken))
    for schema_set in (default_schemas, official_schemas):
        assert validate_by_namespace(broken, schema_set) != []
        wrapped = msghead_of(etree.fromstring(broken))
        issues = validate_by_namespace(wrapped, schema_set)
        assert issues
        assert all("14834812410" not in issue.message for issue in issues)


def test_a_national_id_in_a_guid_is_not_echoed(default_schemas: SchemaSet) -> None:
    data = to_bytes(golden_melding()).decode()
    broken = data.replace(NOTIFICATION_GUID, 'notifikasjonGUID="14834812410"', 1).encode()
    issues = validate_by_namespace(msghead_of(etree.fromstring(broken)), default_schemas)
    assert issues
    assert all("14834812410" not in issue.message for issue in issues)
    with pytest.raises(KprDocumentError) as caught:
        validate_document(etree.fromstring(broken))
    assert "14834812410" not in str(caught.value)
