"""``kprgw apprec parse``: JSON on stdout, warnings on stderr, exit codes by kind of failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kpr_gateway.cli import apprec as apprec_cli
from kpr_gateway.cli.main import app as kprgw
from tests.unit.messages.examples import apprec_document


@pytest.fixture
def cli() -> typer.Typer:
    # A local parent app, as main.py registers the sub-app: ``kprgw apprec ...``.
    parent = typer.Typer()
    parent.add_typer(apprec_cli.app, name="apprec")
    return parent


def run(cli: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_json_dict(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "apprec.xml"
    path.write_bytes(apprec_document())
    code, out, err = run(cli, "apprec", "parse", str(path))
    assert code == 0
    result = json.loads(out)
    assert result["status"] == {"code": 2, "text": "Avvist"}
    assert result["original"]["id"] == "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"
    assert out.startswith('{\n  "version": "1.0",')
    assert err == ""


def test_warnings_go_to_stderr(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "apprec.xml"
    path.write_bytes(apprec_document(mig=""))
    code, out, err = run(cli, "apprec", "parse", str(path))
    assert code == 0
    assert json.loads(out)["version"] == "1.0"
    assert err == "warning: missing MIGversion\n"


def test_not_an_acceptable_apprec_exits_1(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "apprec.xml"
    path.write_bytes(apprec_document(original=""))
    code, out, err = run(cli, "apprec", "parse", str(path))
    assert code == 1
    assert out == ""
    assert "OriginalMsgId/Id" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "content", [b"<AppRec", b'<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>', b"\x00\x01garbage"]
)
def test_unsafe_or_malformed_input_exits_2(
    cli: typer.Typer, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "apprec.xml"
    path.write_bytes(content)
    code, out, err = run(cli, "apprec", "parse", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1


def test_unreadable_file_exits_2(cli: typer.Typer, tmp_path: Path) -> None:
    code, _, err = run(cli, "apprec", "parse", str(tmp_path / "missing.xml"))
    assert code == 2
    assert "cannot read" in err


def test_kprgw_registers_the_sub_app(tmp_path: Path) -> None:
    path = tmp_path / "apprec.xml"
    path.write_bytes(apprec_document())
    code, out, _ = run(kprgw, "apprec", "parse", str(path))
    assert code == 0
    assert json.loads(out)["id"] == "ar-1"
