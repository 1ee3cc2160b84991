"""The new commands are part of ``kprgw``."""

from __future__ import annotations

from typer.testing import CliRunner

from kpr_gateway.cli.main import app


def test_kprgw_has_chain_verify_backfill_and_kpr_build() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"])
    assert listed.exit_code == 0
    for command in ("backfill", "chain", "kpr", "events"):
        assert command in listed.stdout
    for args in (["chain", "verify", "--help"], ["backfill", "--help"], ["kpr", "build", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "--api-key-file" in runner.invoke(app, ["backfill", "--help"]).stdout
