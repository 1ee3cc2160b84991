"""``kprgw xml validate`` against the official schemas: output lines and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kpr_gateway.cli import xml as xml_cli
from kpr_gateway.cli.main import app as kprgw
from kpr_gateway.messages.apprec import build_apprec
from kpr_gateway.messages.schemas import STANDARDS_DIR_ENV
from tests.unit.messages.examples import reply


@pytest.fixture
def cli() -> typer.Typer:
    # A local parent app, as main.py registers the sub-app: ``kprgw xml ...``.
    parent = typer.Typer()
    parent.add_typer(xml_cli.app, name="xml")
    return parent


def run(cli: typer.Typer, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "document.xml"
    path.write_bytes(content)
    return str(path)


def test_valid_document_prints_valid(cli: typer.Typer, standards_dir: Path, tmp_path: Path) -> None:
    file = write(tmp_path, build_apprec(reply(version="1.1")))
    assert run(cli, "xml", "validate", file, "--standards", str(standards_dir)) == (
        0,
        "valid\n",
        "",
    )


def test_standards_dir_from_environment(
    cli: typer.Typer, standards_dir: Path, tmp_path: Path
) -> None:
    file = write(tmp_path, build_apprec(reply()))
    code, out, _ = run(cli, "xml", "validate", file, env={STANDARDS_DIR_ENV: str(standards_dir)})
    assert (code, out) == (0, "valid\n")


def test_invalid_document_prints_one_line_per_issue(
    cli: typer.Typer, standards_dir: Path, tmp_path: Path
) -> None:
    broken = build_apprec(reply()).replace(b"<Id>ar-1</Id>", b"").replace(b"<MIGversion>", b"<MIG>")
    broken = broken.replace(b"</MIGversion>", b"</MIG>")
    code, out, err = run(
        cli, "xml", "validate", write(tmp_path, broken), "--standards", str(standards_dir)
    )
    assert code == 1
    lines = out.splitlines()
    assert lines
    assert all(line.startswith("line ") and ": " in line for line in lines)
    assert lines[0].startswith("line 4: ")
    assert err == ""


def test_msghead_sample_with_unknown_payload_is_invalid(
    cli: typer.Typer, standards_dir: Path, samples_dir: Path
) -> None:
    file = str(samples_dir / "msghead-tjenestebasert-example.xml")
    code, out, _ = run(cli, "xml", "validate", file, "--standards", str(standards_dir))
    assert code == 1
    assert out.startswith("line 60: ")
    assert "Dialogmelding" in out


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>', "DOCTYPE"),
        (b"<r><unclosed></r>", "not well-formed"),
        (b'<x xmlns="urn:unknown"/>', "no schema is known"),
        (b"\xff\xfe\x00\x00garbage", "not well-formed"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    cli: typer.Typer, standards_dir: Path, tmp_path: Path, content: bytes, reason: str
) -> None:
    code, out, err = run(
        cli, "xml", "validate", write(tmp_path, content), "--standards", str(standards_dir)
    )
    assert code == 2
    assert out == ""
    assert reason in err
    assert err.count("\n") == 1


def test_oversize_input_exits_2(cli: typer.Typer, standards_dir: Path, tmp_path: Path) -> None:
    file = write(tmp_path, b"<r>" + b" " * (10 * 1024 * 1024) + b"</r>")
    code, _, err = run(cli, "xml", "validate", file, "--standards", str(standards_dir))
    assert code == 2
    assert "exceeds the limit" in err


def test_unreadable_file_exits_2(cli: typer.Typer, standards_dir: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.xml")
    code, _, err = run(cli, "xml", "validate", missing, "--standards", str(standards_dir))
    assert code == 2
    assert err.startswith("error: cannot read ")


def test_without_standards_exits_2(cli: typer.Typer, tmp_path: Path) -> None:
    file = write(tmp_path, build_apprec(reply()))
    code, _, err = run(cli, "xml", "validate", file, env={STANDARDS_DIR_ENV: ""})
    assert code == 2
    assert STANDARDS_DIR_ENV in err


def test_wrong_standards_dir_exits_2(cli: typer.Typer, tmp_path: Path) -> None:
    file = write(tmp_path, build_apprec(reply()))
    code, _, err = run(cli, "xml", "validate", file, "--standards", str(tmp_path))
    assert code == 2
    assert "MsgHead-v1_2.xsd not found" in err


def test_kprgw_registers_the_sub_app(standards_dir: Path, tmp_path: Path) -> None:
    file = write(tmp_path, build_apprec(reply()))
    code, out, _ = run(kprgw, "xml", "validate", file, "--standards", str(standards_dir))
    assert (code, out) == (0, "valid\n")
