"""Golden files: builder output byte for byte (tests/golden/messages/).

After an intended change to the output, regenerate them and review the diff:

    KPRGW_UPDATE_GOLDEN=1 uv run pytest tests/unit/messages/test_golden.py
"""

from __future__ import annotations

import dataclasses
import os
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
from kpr_gateway.messages.msghead import ConversationRef, build_msghead
from tests.unit.messages.examples import head, reply

UPDATE = os.environ.get("KPRGW_UPDATE_GOLDEN") == "1"


def golden_msghead() -> bytes:
    return build_msghead(head(conversation_ref=ConversationRef("parent-id", "conversation-id")))


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
