"""Golden files: builder output byte for byte (tests/golden/messages/).

msghead-kpr-ipl.xml is the daily KPR_IPL as the gateway sends it: the golden Melding of
tests/golden/iplos_kpr/ in its MsgHead. After an intended change to the output, regenerate
them and review the diff:

    KPRGW_UPDATE_GOLDEN=1 uv run pytest tests/unit/messages/test_golden.py
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kpr_gateway.messages.apprec import (
    ERROR_CODE_SYSTEM,
    AdditionalId,
    AppRecErrorCode,
    AppRecParty,
    AppRecStatus,
    AppRecStatusCode,
    PartyUnit,
    build_apprec,
)
from kpr_gateway.messages.shipments import build_shipment
from tests.unit.iplos_kpr.golden import golden_melding
from tests.unit.messages.examples import GEN_DATE, kpr, municipality, reply

UPDATE = os.environ.get("KPRGW_UPDATE_GOLDEN") == "1"


def golden_msghead() -> bytes:
    return build_shipment(
        sender=municipality(),
        receiver=kpr(),
        melding=golden_melding(),
        msg_id=uuid.UUID("4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"),
        now=GEN_DATE,
    ).document


def golden_apprec_rejected() -> bytes:
    return build_apprec(
        reply(
            errors=[
                AppRecErrorCode("E21", ERROR_CODE_SYSTEM, "Mottaker finnes ikke"),
                AppRecErrorCode("K-117", "2.16.578.1.99.1", "Ugyldig tjenestekode", "Hendelse[3]"),
            ]
        )
    )


def golden_apprec_ok_v11() -> bytes:
    base = reply(version="1.1", status=AppRecStatus.of(AppRecStatusCode.OK), errors=[])
    sender = AppRecParty(
        name="Folkehelseinstituttet",
        id="85217",
        type_id="HER",
        role="AVS",
        additional_ids=(AdditionalId("983744516", "ENH"),),
        departments=(PartyUnit("KPR", "122612", "HER"),),
        persons=(PartyUnit("Saksbehandler", "1234567", "HER"),),
    )
    return build_apprec(
        dataclasses.replace(
            base, sender=sender, software_name="KPR Gateway", software_version="0.1.0"
        )
    )


CASES: dict[str, Callable[[], bytes]] = {
    "msghead-kpr-ipl.xml": golden_msghead,
    "apprec-1.0-rejected.xml": golden_apprec_rejected,
    "apprec-1.1-ok.xml": golden_apprec_ok_v11,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_builder_output_matches_golden_file(golden_dir: Path, name: str) -> None:
    path = golden_dir / "messages" / name
    actual = CASES[name]()
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.is_file(), f"missing {path}; run with KPRGW_UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_bytes(), f"{name} changed; see this module's docstring"


def test_golden_dates_are_fixed() -> None:
    # Golden output must not depend on the clock.
    assert reply().gen_date == datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
    assert datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC) == GEN_DATE
