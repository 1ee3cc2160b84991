"""``kprgw annual check`` and ``sample``: output, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from kpr_gateway.cli import annual
from tests.unit.annual.support import CLEAN_IDENT, CLEAN_IPLOS, edited
from tests.unit.rules.support import tenant_data

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "annual"


def run(*args: str) -> tuple[int, str]:
    parent = typer.Typer()
    parent.add_typer(annual.app, name="annual")
    result = CliRunner().invoke(parent, ["annual", *args])
    return result.exit_code, result.output


def tenant_file(directory: Path) -> Path:
    import yaml  # noqa: PLC0415

    path = directory / "tenant.yaml"
    path.write_text(yaml.safe_dump(tenant_data()))
    return path


def test_a_clean_pair_exits_0(tmp_path: Path) -> None:
    code, output = run(
        "check", "--tenant", str(tenant_file(tmp_path)), "--iplos", str(CLEAN_IPLOS),
        "--ident", str(CLEAN_IDENT), "--year", "2025",
    )  # fmt: skip
    assert code == 0, output
    assert "3 persons, sendable" in output


def test_findings_exit_1_and_json_is_the_report(tmp_path: Path) -> None:
    pair = edited(tmp_path, iplos=(("<tjTjenType>21</tjTjenType>", "<tjTjenType>13</tjTjenType>"),))
    code, output = run(
        "check", "--tenant", str(tenant_file(tmp_path)), "--iplos", str(pair.iplos),
        "--ident", str(pair.ident), "--year", "2025", "--json",
    )  # fmt: skip
    assert code == 1
    assert json.loads(output) == {
        "sendable": False,
        "persons": 3,
        "findings": [
            {"rule": "service-code-obsolete", "severity": "error", "count": 1,
             "examples": ["100001"]},
        ],
    }  # fmt: skip


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    code, output = run(
        "check", "--tenant", str(tenant_file(tmp_path)), "--iplos", str(tmp_path / "no.xml"),
        "--ident", str(CLEAN_IDENT),
    )  # fmt: skip
    assert code == 2
    assert "no such file" in output
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [\n")
    code, _ = run(
        "check", "--tenant", str(bad), "--iplos", str(CLEAN_IPLOS), "--ident", str(CLEAN_IDENT)
    )
    assert code == 2


def test_sample_writes_a_pair_that_checks_clean(tmp_path: Path) -> None:
    tenants = EXAMPLES / "tenants.yaml"
    code, output = run(
        "sample", "--tenant", str(tenants), "--tenant-id", "trondheim", "--persons", "30",
        "--year", "2019", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, output
    assert "municipality 5001, year 2019" in output
    code, output = run(
        "check", "--tenant", str(tenants), "--tenant-id", "trondheim", "--year", "2019",
        "--iplos", str(tmp_path / "trondheim-2019-iplos.xml"),
        "--ident", str(tmp_path / "trondheim-2019-ident.xml"),
    )  # fmt: skip
    assert code == 0, output


def test_the_examples_check_clean() -> None:
    for name in ("bergen", "trondheim"):
        code, output = run(
            "check", "--tenant", str(EXAMPLES / "tenants.yaml"), "--tenant-id", name,
            "--year", "2025", "--iplos", str(EXAMPLES / f"{name}-2025-iplos.xml"),
            "--ident", str(EXAMPLES / f"{name}-2025-ident.xml"),
        )  # fmt: skip
        assert code == 0, output
