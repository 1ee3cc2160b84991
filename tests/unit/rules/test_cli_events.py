"""``kprgw events check``: the rules over an NDJSON file, failures and a summary, nothing sent."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kpr_gateway.cli.events import app
from tests.unit.rules.support import PERSON, TRONDHEIM_ORG, event_data, national_id, tenant_data

SYNTHETIC = national_id(date(1990, 4, 4), month_offset=80)


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", *(str(a) for a in args)])
    return result.exit_code, result.output


@pytest.fixture
def tenant_file(tmp_path: Path) -> Path:
    path = tmp_path / "bergen.yaml"
    path.write_text(yaml.safe_dump(tenant_data()))
    return path


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    trondheim = tenant_data(
        id="trondheim",
        municipality_number="5001",
        name="Trondheim kommune",
        org_number=TRONDHEIM_ORG,
        her_id="60001",
        communication_party={"name": "Saksbehandling", "her_id": "60002"},
    )
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": [tenant_data(), trondheim]}))
    return path


def ndjson(tmp_path: Path, *lines: dict[str, Any] | str | bytes) -> Path:
    path = tmp_path / "events.ndjson"
    with path.open("wb") as out:
        for line in lines:
            text = json.dumps(line) if isinstance(line, dict) else line
            out.write((text.encode() if isinstance(text, str) else text) + b"\n")
    return path


def test_a_clean_file_passes(tmp_path: Path, tenant_file: Path) -> None:
    events = ndjson(tmp_path, event_data(), "", event_data(service_code="29"))
    code, output = run(events, "--tenant", tenant_file)
    assert code == 0, output
    assert output.splitlines() == [
        "2 events: 2 would be sent (0 with warnings), 0 rejected, 0 suppressed as test persons"
    ]


def test_failures_are_listed_by_line_and_summarised(tmp_path: Path, tenant_file: Path) -> None:
    obsolete = event_data(service_code="12")
    early = event_data(
        municipality_number="1201", decision_date="2019-01-10", start_date="2019-01-10"
    )
    broken = event_data(start_date="soon")
    lines: list[dict[str, Any] | str | bytes] = [
        event_data(),
        obsolete,
        event_data(national_id=SYNTHETIC),
        early,
        broken,
        "{not json",
        "[1, 2]",
        b"\xff\xfe",
    ]
    code, output = run(ndjson(tmp_path, *lines), "--tenant", tenant_file, "--language", "en")
    assert code == 1
    printed = output.splitlines()
    assert printed[0] == (
        f"line 2 (event {obsolete['event_id']}): reject service-code-obsolete service_code: "
        "service code 12 (Sheltered housing) is obsolete since 2019-01-01; "
        "report housing as service 29"
    )
    assert printed[1].startswith("line 3 (event ")
    assert " suppress test-person national_id: " in printed[1]
    assert printed[2].startswith(
        f"line 4 (event {early['event_id']}): warn municipality-earlier-number"
    )
    assert printed[3] == (
        f"line 5 (event {broken['event_id']}): reject event-format start_date: "
        "must be a date written YYYY-MM-DD"
    )
    assert printed[4] == "line 6: reject event-format (line): not valid JSON (column 2)"
    assert printed[5] == "line 7: reject event-format (line): not a JSON object"
    assert printed[6] == "line 8: reject event-format (line): not valid UTF-8"
    assert printed[7] == (
        "8 events: 2 would be sent (1 with warnings), 5 rejected, 1 suppressed as test persons"
    )
    assert printed[8:] == [
        "  event-format: 4",
        "  municipality-earlier-number: 1",
        "  service-code-obsolete: 1",
        "  test-person: 1",
    ]
    assert PERSON not in output
    assert SYNTHETIC not in output


def test_reasons_in_norwegian_or_both(tmp_path: Path, tenant_file: Path) -> None:
    events = ndjson(tmp_path, event_data(service_code="16"))
    _, norwegian = run(events, "--tenant", tenant_file, "--language", "nb")
    assert "tjenestekode 16" in norwegian
    assert "service code 16" not in norwegian
    _, both = run(events, "--tenant", tenant_file)
    assert "service code 16" in both
    assert "tjenestekode 16" in both


def test_a_test_person_list_suppresses_its_persons(tmp_path: Path, tenant_file: Path) -> None:
    persons = tmp_path / "test-persons.txt"
    persons.write_text(f"{PERSON}\n")
    code, output = run(
        ndjson(tmp_path, event_data()), "--tenant", tenant_file, "--test-persons", persons
    )
    assert code == 0, output
    assert "suppress test-person-listed national_id" in output
    assert "1 suppressed as test persons" in output
    assert PERSON not in output


def test_a_broken_test_person_list_fails(tmp_path: Path, tenant_file: Path) -> None:
    persons = tmp_path / "test-persons.txt"
    persons.write_text("not an id\n")
    code, output = run(
        ndjson(tmp_path, event_data()), "--tenant", tenant_file, "--test-persons", persons
    )
    assert code == 1
    assert "line 1 is not an 11-digit national id" in output


def test_a_tenants_file_needs_a_tenant_id_when_it_has_several(
    tmp_path: Path, tenants_file: Path
) -> None:
    events = ndjson(tmp_path, event_data(municipality_number="5001"))
    code, output = run(events, "--tenant", tenants_file)
    assert code == 1
    assert "has 2 tenants: choose one with --tenant-id" in output
    code, output = run(events, "--tenant", tenants_file, "--tenant-id", "trondheim")
    assert code == 0, output
    code, output = run(events, "--tenant", tenants_file, "--tenant-id", "bergen")
    assert code == 1
    assert "municipality-not-tenant" in output
    code, output = run(events, "--tenant", tenants_file, "--tenant-id", "oslo")
    assert code == 1
    assert "has no tenant oslo" in output


def test_a_single_tenant_file_and_a_wrong_tenant_id(tmp_path: Path, tenant_file: Path) -> None:
    code, output = run(
        ndjson(tmp_path, event_data()), "--tenant", tenant_file, "--tenant-id", "trondheim"
    )
    assert code == 1
    assert "describes tenant bergen, not trondheim" in output


def test_unreadable_inputs_fail_in_one_line(tmp_path: Path, tenant_file: Path) -> None:
    code, output = run(tmp_path / "absent.ndjson", "--tenant", tenant_file)
    assert code == 1
    assert output.startswith("error: ")
    broken_tenant = tmp_path / "broken.yaml"
    broken_tenant.write_text("id: [")
    code, output = run(ndjson(tmp_path, event_data()), "--tenant", broken_tenant)
    assert code == 1
    assert "not valid YAML" in output


def test_a_tenant_with_a_former_number_is_warned_about(tmp_path: Path) -> None:
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump(tenant_data(municipality_number="1201")))
    result = CliRunner().invoke(
        app,
        [
            "check",
            str(ndjson(tmp_path, event_data(municipality_number="1201"))),
            "--tenant",
            str(stale),
        ],
    )
    assert "municipality number 1201 is not a current one" in result.output
