"""The demo's annual round: the pairs it submits and how it reports each submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpr_gateway.cli.demo.annual import AnnualOutcome, summary_line, write_annual_samples
from kpr_gateway.cli.demo.world import create_world

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "annual"


def test_the_demo_submits_bergens_example_pair(tmp_path: Path) -> None:
    """Written from the demo's own tenants, Bergen's pair is examples/annual's byte for byte
    (Trondheim's differs only in its contact's phone number, which the demo world shares)."""
    world = create_world(tmp_path / "world")
    files = write_annual_samples(world, tmp_path / "annual")
    assert set(files) == {"bergen", "trondheim"}
    bergen = files["bergen"]
    assert bergen.iplos.read_bytes() == (EXAMPLES / "bergen-2025-iplos.xml").read_bytes()
    assert bergen.ident.read_bytes() == (EXAMPLES / "bergen-2025-ident.xml").read_bytes()
    assert files["trondheim"].persons == 40
    assert files["trondheim"].municipality_number == "5001"


def _status(status: str, *messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "submission_id": "8ab3cd22-15e9-448c-b25a-fe14244c756f",
        "status": status,
        "persons": 40,
        "report": {"findings": [{"rule": "xsd"}]},
        "refusal_reason": None,
        "messages": list(messages),
    }


def _message(msg_type: str, state: str, receipt: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"msg_type": msg_type, "state": state, "receipt": receipt}


def test_a_submission_is_settled_only_when_both_messages_have_their_outcome() -> None:
    in_flight = _status(
        "acknowledged",
        _message("KPR_IPL", "acknowledged", {"status_code": 1, "errors": []}),
        _message("KPR_IDE", "dispatched"),
    )
    assert not AnnualOutcome("bergen", in_flight).settled
    assert not AnnualOutcome("bergen", _status("sending")).settled
    done = _status(
        "rejected",
        _message("KPR_IPL", "rejected", {"status_code": 2, "errors": [{"code": "T02"}]}),
        _message("KPR_IDE", "acknowledged", {"status_code": 1, "errors": []}),
    )
    assert AnnualOutcome("bergen", done).settled
    assert summary_line(AnnualOutcome("bergen", done)) == (
        "bergen: submission 8ab3cd22-15e9-448c-b25a-fe14244c756f rejected; "
        "KPR_IPL rejected (AppRec 2: T02), KPR_IDE acknowledged (AppRec 1)"
    )


def test_a_refused_submission_is_settled_and_names_its_rules() -> None:
    refused = AnnualOutcome("trondheim", _status("refused"))
    assert refused.settled
    assert summary_line(refused).endswith("refused (xsd)")
