"""``kprgw events check``: the rules over an NDJSON file of notifications, failures and a
summary, nothing sent."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kpr_gateway.cli.demo.samples import event, make_person, national_id
from kpr_gateway.cli.events import app
from kpr_gateway.messages.iplos_kpr import EventKind, IdType, Notification
from kpr_gateway.tenancy import Tenant
from kpr_gateway.transform.rules import RuleSet
from tests.unit.cli.support import tenant_data

RNG = random.Random(10)
PERSON = national_id(RNG)
SYNTHETIC = national_id(RNG, month_offset=80)


def notification(**overrides: Any) -> dict[str, Any]:
    data = event(RNG, "4601", kind=EventKind.SERVICE_START, service_type="21", person=PERSON)
    data.update(overrides)
    return data


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["check", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


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
        org_number="942110464",
        her_id="60001",
        communication_party={"name": "Saksbehandling", "her_id": "60002"},
        epj_clients=[],
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


def summary(
    *,
    events: int,
    sent: int,
    warned: int = 0,
    rejected: int = 0,
    suppressed: int = 0,
    not_reportable: int = 0,
) -> str:
    return (
        f"{events} events: {sent} would be sent ({warned} with warnings), {rejected} rejected, "
        f"{suppressed} suppressed as test persons, {not_reportable} not reportable"
    )


def test_a_clean_file_passes(tmp_path: Path, tenant_file: Path) -> None:
    events = ndjson(tmp_path, notification(), "", notification(service_type="29"))
    code, output, _ = run(events, "--tenant", tenant_file)
    assert code == 0, output
    assert output.splitlines() == [summary(events=2, sent=2)]


def test_failures_are_listed_by_line_and_summarised(tmp_path: Path, tenant_file: Path) -> None:
    obsolete = notification(service_type="12")
    birth_date_only = notification(person=make_person(RNG, national="170331", id_type=IdType.ANNET))
    no_provider = notification(kind="provider_changed")
    lines: list[dict[str, Any] | str | bytes] = [
        notification(),
        obsolete,
        notification(person=make_person(RNG, national=SYNTHETIC)),
        birth_date_only,
        no_provider,
        "{not json",
        "[1, 2]",
        b"\xff\xfe",
    ]
    code, output, _ = run(ndjson(tmp_path, *lines), "--tenant", tenant_file, "--language", "en")
    assert code == 1
    printed = output.splitlines()
    assert printed[0].startswith(
        f"line 2 (event {obsolete['event_id']}): reject service-code-obsolete service_type: "
    )
    assert printed[1].startswith("line 3 (event ")
    assert " suppress test-person person.national_id: " in printed[1]
    assert printed[2].startswith(
        f"line 4 (event {birth_date_only['event_id']}): warn no-kpr-id person.id_type: "
    )
    assert printed[3] == (
        f"line 5 (event {no_provider['event_id']}): reject event-format provider_org_number: "
        "required for provider_changed"
    )
    assert printed[4] == "line 6: reject event-format (line): not valid JSON (column 2)"
    assert printed[5] == "line 7: reject event-format (line): not a JSON object"
    assert printed[6] == "line 8: reject event-format (line): not valid UTF-8"
    assert printed[7] == summary(events=8, sent=2, warned=1, rejected=5, suppressed=1)
    assert printed[8:] == [
        "  event-format: 4",
        "  no-kpr-id: 1",
        "  service-code-obsolete: 1",
        "  test-person: 1",
    ]
    assert PERSON not in output
    assert SYNTHETIC not in output


def test_service_types_are_judged_by_the_event_date(tmp_path: Path, tenant_file: Path) -> None:
    # Bergen was 1201 in 2018: the event is reported under that number, with a warning.
    backfilled = notification(
        service_type="12",
        event_date="2018-06-01",
        registered_at="2018-06-01T10:00:00+02:00",
        municipality_number="1201",
    )
    code, output, _ = run(ndjson(tmp_path, backfilled), "--tenant", tenant_file)
    assert code == 0, output
    assert "service-code-obsolete" not in output
    assert output.splitlines()[-2:] == [
        summary(events=1, sent=1, warned=1),
        "  municipality-earlier-number: 1",
    ]


def test_reported_service_types_leave_others_not_reportable(
    tmp_path: Path, tenant_file: Path
) -> None:
    events = ndjson(tmp_path, notification(service_type="21"), notification(service_type="15"))
    code, output, _ = run(events, "--tenant", tenant_file)
    assert code == 0
    assert output.splitlines()[-1] == summary(events=2, sent=2)
    code, output, _ = run(
        events, "--tenant", tenant_file, "--reported-service-types", "18, 19,20,21,29"
    )
    assert code == 0, output
    printed = output.splitlines()
    assert printed[0].startswith("line 2 (event ")
    assert " service-type-not-reported service_type: " in printed[0]
    assert printed[1] == summary(events=2, sent=1, not_reportable=1)
    assert printed[2:] == ["  service-type-not-reported: 1"]


@pytest.mark.parametrize("listed", ["18,99", "abc", ","])
def test_reported_service_types_must_be_codes(
    tmp_path: Path, tenant_file: Path, listed: str
) -> None:
    code, _, errors = run(
        ndjson(tmp_path, notification()),
        "--tenant",
        tenant_file,
        "--reported-service-types",
        listed,
    )
    assert code == 2
    assert errors.startswith("error: --reported-service-types")


def test_reasons_in_norwegian_english_or_both(tmp_path: Path, tenant_file: Path) -> None:
    obsolete = notification(service_type="16")
    (finding,) = (
        RuleSet()
        .check(Notification.model_validate(obsolete), Tenant.model_validate(tenant_data()))
        .findings
    )
    events = ndjson(tmp_path, obsolete)
    _, norwegian, _ = run(events, "--tenant", tenant_file, "--language", "nb")
    assert finding.reason_nb in norwegian
    assert finding.reason_en not in norwegian
    _, english, _ = run(events, "--tenant", tenant_file, "--language", "en")
    assert finding.reason_en in english
    assert finding.reason_nb not in english
    _, both, _ = run(events, "--tenant", tenant_file)
    assert f"{finding.reason_en} / {finding.reason_nb}" in both


def test_a_test_person_list_suppresses_its_persons(tmp_path: Path, tenant_file: Path) -> None:
    persons = tmp_path / "test-persons.txt"
    persons.write_text(f"{PERSON}\n")
    code, output, _ = run(
        ndjson(tmp_path, notification()), "--tenant", tenant_file, "--test-persons", persons
    )
    assert code == 0, output
    assert "suppress test-person-listed person.national_id" in output
    assert "1 suppressed as test persons" in output
    assert PERSON not in output


def test_a_broken_test_person_list_fails(tmp_path: Path, tenant_file: Path) -> None:
    persons = tmp_path / "test-persons.txt"
    persons.write_text("not an id\n")
    code, _, errors = run(
        ndjson(tmp_path, notification()), "--tenant", tenant_file, "--test-persons", persons
    )
    assert code == 1
    assert errors.startswith("error: ")
    assert "line 1" in errors


def test_a_tenants_file_needs_a_tenant_id_when_it_has_several(
    tmp_path: Path, tenants_file: Path
) -> None:
    events = ndjson(tmp_path, notification(municipality_number="5001"))
    code, _, errors = run(events, "--tenant", tenants_file)
    assert code == 1
    assert "has 2 tenants: choose one with --tenant-id" in errors
    code, output, _ = run(events, "--tenant", tenants_file, "--tenant-id", "trondheim")
    assert code == 0, output
    code, output, _ = run(events, "--tenant", tenants_file, "--tenant-id", "bergen")
    assert code == 1
    assert "municipality-not-tenant" in output
    code, _, errors = run(events, "--tenant", tenants_file, "--tenant-id", "oslo")
    assert code == 1
    assert "has no tenant oslo" in errors


def test_a_single_tenant_file_and_a_wrong_tenant_id(tmp_path: Path, tenant_file: Path) -> None:
    code, _, errors = run(
        ndjson(tmp_path, notification()), "--tenant", tenant_file, "--tenant-id", "trondheim"
    )
    assert code == 1
    assert "describes tenant bergen, not trondheim" in errors


def test_unreadable_inputs_fail_in_one_line(tmp_path: Path, tenant_file: Path) -> None:
    code, _, errors = run(tmp_path / "absent.ndjson", "--tenant", tenant_file)
    assert code == 1
    assert errors.startswith("error: ")
    broken_tenant = tmp_path / "broken.yaml"
    broken_tenant.write_text("id: [")
    code, _, errors = run(ndjson(tmp_path, notification()), "--tenant", broken_tenant)
    assert code == 1
    assert "not valid YAML" in errors


def test_a_tenant_with_a_former_number_is_warned_about(tmp_path: Path) -> None:
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump(tenant_data(municipality_number="1201")))
    _, _, errors = run(
        ndjson(tmp_path, notification(municipality_number="1201")), "--tenant", stale
    )
    assert "municipality number 1201 is not a current one" in errors
