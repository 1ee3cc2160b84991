"""The golden input (tests/golden/iplos_kpr/events.ndjson) and the fixed tenant secret and header
it is built with: shared by the golden, MsgHead and conformance tests."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from kpr_gateway.messages.iplos_kpr import (
    ChainHead,
    Contact,
    ContactType,
    EpjSystem,
    MeldingHeader,
    Notification,
    NumberedNotification,
    build_melding,
    number,
)

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden" / "iplos_kpr"
EVENTS = GOLDEN_DIR / "events.ndjson"
MELDING = GOLDEN_DIR / "melding.xml"
GOLDEN_SECRET = b"golden-tenant-secret/not-for-production"
GOLDEN_HEADER = MeldingHeader(
    municipality_number="0301",
    system=EpjSystem(vendor="Omsorgsdata AS", name="Omsorg EPJ", version="24.3.1"),
    gateway_version="0.1.0",
    contacts=(
        Contact(
            "Kari Kontakt", "kari.kontakt@example.invalid", ContactType.IPLOS_CONTACT, "+4791234567"
        ),
        Contact(
            "Ola Innsender",
            "ola.innsender@example.invalid",
            ContactType.IPLOS_SUBMITTER,
            email2="iplos@example.invalid",
        ),
    ),
    local_id="0f6b3c1e-9a7d-4e2b-8c5f-1d2e3f4a5b6c",
)


def golden_events() -> list[Notification]:
    lines = EVENTS.read_text(encoding="utf-8").splitlines()
    return [Notification.model_validate_json(line) for line in lines if line.strip()]


def golden_numbered() -> list[NumberedNotification]:
    """The golden events numbered from the start of the chain (1 after Guid.Empty)."""
    return number(ChainHead(), golden_events(), GOLDEN_SECRET)[0]


def golden_melding() -> etree._Element:
    return build_melding(GOLDEN_HEADER, golden_numbered())
