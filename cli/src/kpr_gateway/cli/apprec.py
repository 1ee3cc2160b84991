"""``kprgw apprec``: read application receipts (AppRec v1.0/v1.1) as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kpr_gateway.cli.xml import EXIT_INVALID, fail, read_input
from kpr_gateway.messages.apprec import parse_apprec
from kpr_gateway.messages.errors import AppRecError, MessagesError

app = typer.Typer(no_args_is_help=True, help="Read application receipts (AppRec).")


@app.callback()
def _group() -> None:
    """Read application receipts (AppRec)."""


@app.command("parse")
def parse_command(
    file: Annotated[Path, typer.Argument(help="The AppRec document (v1.0 or v1.1).")],
) -> None:
    """Print FILE as JSON; tolerated irregularities go to stderr as ``warning:`` lines.

    Exit 1 when FILE is XML but not an acceptable AppRec, 2 when it cannot be read or is
    unsafe or malformed XML.
    """
    data = read_input(file)
    try:
        apprec = parse_apprec(data)
    except AppRecError as exc:
        typer.echo(" ".join(str(exc).split()), err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    except MessagesError as exc:
        fail(exc)
    typer.echo(json.dumps(apprec.to_json_dict(), indent=2, ensure_ascii=False))
    for warning in apprec.warnings:
        typer.echo(f"warning: {warning}", err=True)
