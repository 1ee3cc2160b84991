"""``kprgw kpr build``: notifications in, KPR_IPL MsgHeads out, numbered per municipality."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpr_gateway.cli.kpr import app
from kpr_gateway.cli.xml import app as xml_app
from kpr_gateway.messages.iplos_kpr import (
    GUID_EMPTY,
    ParsedMelding,
    ParsedNotification,
    parse_melding,
)
from kpr_gateway.messages.msghead import parse_msghead
from tests.unit.cli.support import (
    CLIENT_SYSTEM,
    EPJ_SYSTEM,
    notifications,
    write_ndjson,
    write_tenant,
)

REPO = Path(__file__).resolve().parents[3]
HEAD_LINE = re.compile(r"^chain (\d{4}): head seq (\d+) guid ([0-9a-f-]{36})$")


def build(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["build", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


def written(stdout: str) -> list[Path]:
    return [Path(line) for line in stdout.splitlines() if line.endswith(".xml")]


def heads(stdout: str) -> dict[str, tuple[int, uuid.UUID]]:
    found = {}
    for line in stdout.splitlines():
        if match := HEAD_LINE.match(line):
            found[match[1]] = (int(match[2]), uuid.UUID(match[3]))
    return found


def melding(path: Path) -> tuple[str, ParsedMelding]:
    head = parse_msghead(path.read_bytes())
    return head.msg_type, parse_melding(head.document)


def test_numbers_from_one_after_guid_empty_and_names_the_tenants_sender(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path)
    items = notifications(6)
    code, stdout, stderr = build(
        "--tenant",
        tenant,
        "--events",
        write_ndjson(tmp_path / "in.ndjson", items),
        "--out",
        tmp_path / "out",
    )
    assert code == 0, stderr
    (path,) = written(stdout)
    assert path.name.startswith("KPR_IPL-")
    assert path.parent == tmp_path / "out"
    msg_type, parsed = melding(path)
    assert msg_type == "KPR_IPL"
    assert [n.seq for n in parsed.notifications] == [1, 2, 3, 4, 5, 6]
    ids = [uuid.UUID(item["event_id"]) for item in items]
    assert [n.event_id for n in parsed.notifications] == ids
    assert [n.previous for n in parsed.notifications] == [GUID_EMPTY, *ids[:-1]]
    header = parsed.header
    assert (header.vendor, header.system_name, header.system_version) == tuple(EPJ_SYSTEM.values())
    assert header.gateway_version.startswith("KPR Gateway ")
    assert sorted(c.type for c in header.contacts) == ["16", "17"]
    assert header.municipality_numbers == ("4601",)
    assert heads(stdout) == {"4601": (6, ids[-1])}


def test_a_client_with_its_own_system_is_named(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path)
    events = write_ndjson(tmp_path / "in.ndjson", notifications(2))
    code, stdout, stderr = build(
        "--tenant", tenant, "--events", events, "--out", tmp_path, "--client", "bergen-dips"
    )
    assert code == 0, stderr
    _, parsed = melding(written(stdout)[0])
    assert (parsed.header.vendor, parsed.header.system_name) == (
        CLIENT_SYSTEM["vendor"],
        CLIENT_SYSTEM["name"],
    )


def test_continues_a_chain_after_a_given_head(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path)
    before = uuid.uuid4()
    items = notifications(3)
    code, stdout, stderr = build(
        "--tenant",
        tenant,
        "--events",
        write_ndjson(tmp_path / "in.ndjson", items),
        "--out",
        tmp_path / "out",
        "--after-seq",
        "41",
        "--after-guid",
        str(before),
    )
    assert code == 0, stderr
    _, parsed = melding(written(stdout)[0])
    assert [n.seq for n in parsed.notifications] == [42, 43, 44]
    assert parsed.notifications[0].previous == before
    assert heads(stdout) == {"4601": (44, uuid.UUID(items[-1]["event_id"]))}


@pytest.mark.parametrize(
    "extra",
    [
        ["--after-seq", "3"],
        ["--after-guid", str(uuid.uuid4())],
        ["--after-seq", "0", "--after-guid", str(uuid.uuid4())],
        ["--after-seq", "5", "--after-guid", str(GUID_EMPTY)],
    ],
)
def test_a_head_is_both_parts_and_consistent(tmp_path: Path, extra: list[str]) -> None:
    tenant = write_tenant(tmp_path)
    events = write_ndjson(tmp_path / "in.ndjson", notifications(1))
    code, stdout, stderr = build("--tenant", tenant, "--events", events, "--out", tmp_path, *extra)
    assert code == 2
    assert stderr.startswith("error: ")
    assert not written(stdout)


def test_one_chain_per_municipality(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path)
    bergen, trondheim = notifications(3, "4601", seed=1), notifications(2, "5001", seed=2)
    mixed = [bergen[0], trondheim[0], bergen[1], trondheim[1], bergen[2]]
    events = write_ndjson(tmp_path / "in.ndjson", mixed)
    code, stdout, stderr = build("--tenant", tenant, "--events", events, "--out", tmp_path / "o")
    assert code == 0, stderr
    assert "5001" in stderr  # noted: not the tenant's municipality
    by_municipality = {}
    for path in written(stdout):
        _, parsed = melding(path)
        by_municipality[parsed.header.municipality_numbers[0]] = parsed.notifications
    assert [n.seq for n in by_municipality["4601"]] == [1, 2, 3]
    assert [n.seq for n in by_municipality["5001"]] == [1, 2]
    assert by_municipality["5001"][1].previous == uuid.UUID(trondheim[0]["event_id"])
    assert set(heads(stdout)) == {"4601", "5001"}
    code, _, stderr = build(
        "--tenant",
        tenant,
        "--events",
        events,
        "--out",
        tmp_path / "o2",
        "--after-seq",
        "1",
        "--after-guid",
        str(uuid.uuid4()),
    )
    assert code == 2
    assert "2 municipalities" in stderr


def test_large_files_split_by_size_and_the_chain_runs_on(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path)
    items = notifications(120)
    code, stdout, stderr = build(
        "--tenant",
        tenant,
        "--events",
        write_ndjson(tmp_path / "in.ndjson", items),
        "--out",
        tmp_path / "out",
        "--max-message-bytes",
        "30000",
    )
    assert code == 0, stderr
    paths = written(stdout)
    assert len(paths) > 2
    chain: list[ParsedNotification] = []
    for path in paths:
        assert path.stat().st_size <= 30_000
        chain += melding(path)[1].notifications
    assert [n.seq for n in chain] == list(range(1, 121))
    assert [n.event_id for n in chain] == [uuid.UUID(i["event_id"]) for i in items]


def test_a_bad_line_names_its_number_and_fields_without_values(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path)
    good, bad = notifications(2)
    del bad["occurrence_id"]
    bad["person"]["id_type"] = 9  # an 11-digit id is not a birth date
    code, stdout, stderr = build(
        "--tenant",
        tenant,
        "--events",
        write_ndjson(tmp_path / "in.ndjson", [good, "", bad]),
        "--out",
        tmp_path / "out",
    )
    assert code == 1
    assert "line 3: " in stderr
    assert "occurrence_id" in stderr
    assert "national_id" in stderr
    assert bad["person"]["national_id"] not in stderr + stdout
    assert not (tmp_path / "out").exists()


def test_a_tenant_without_reporting_fails_clearly(tmp_path: Path) -> None:
    tenant = write_tenant(tmp_path, reporting=None)
    code, _, stderr = build(
        "--tenant",
        tenant,
        "--events",
        write_ndjson(tmp_path / "in.ndjson", notifications(1)),
        "--out",
        tmp_path / "out",
    )
    assert code == 1
    assert "reporting" in stderr


def test_the_example_file_builds_into_valid_messages(tmp_path: Path, standards_dir: Path) -> None:
    """What the README shows: examples/events.ndjson, built and validated by `kprgw xml`."""
    examples = REPO / "examples"
    code, stdout, stderr = build(
        "--tenant",
        examples / "tenant-oslo.yaml",
        "--events",
        examples / "events.ndjson",
        "--out",
        tmp_path,
    )
    assert code == 0, stderr
    paths = written(stdout)
    assert paths
    kinds: set[tuple[str, str]] = set()
    id_types: set[str] = set()
    districts: set[str | None] = set()
    for path in paths:
        result = CliRunner().invoke(
            xml_app, ["validate", str(path), "--standards", str(standards_dir)]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "valid"
        parsed = melding(path)[1]
        kinds |= {(n.kind, n.status) for n in parsed.notifications}
        id_types |= {n.person.id_type for n in parsed.notifications}
        districts |= {n.person.district for n in parsed.notifications}
    assert {kind for kind, _ in kinds} == {
        "service_start",
        "service_end",
        "provider_changed",
        "temporary_stop_from",
        "temporary_stop_to",
    }
    assert {status for _, status in kinds} == {"N", "M", "C"}
    assert id_types == {"1", "2", "9"}
    assert "030101" in districts
    assert heads(stdout) == {"0301": (10, uuid.UUID("3b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b10"))}
