"""``kprgw xml``: validate XML documents against the official schemas and our payload XSDs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from kpr_gateway.cli import output
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.schemas import STANDARDS_DIR_ENV, load_schema_set, validate_document
from kpr_gateway.messages.xmlsafe import DEFAULT_MAX_BYTES

app = typer.Typer(no_args_is_help=True, help="Validate XML documents against their schemas.")

EXIT_INVALID = 1
EXIT_UNUSABLE = 2


@app.callback()
def _group() -> None:
    """Validate XML documents against their schemas."""


def fail(reason: object) -> NoReturn:
    """Input or setup unusable: a one-line reason and exit 2."""
    output.fail(reason, code=EXIT_UNUSABLE)


def read_input(path: Path) -> bytes:
    """Read at most one byte over the parser's limit, so oversize input is refused cheaply."""
    try:
        with path.open("rb") as handle:
            return handle.read(DEFAULT_MAX_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}")


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="The XML document to validate.")],
    standards: Annotated[
        Path | None,
        typer.Option(
            "--standards",
            envvar=STANDARDS_DIR_ENV,
            help="Directory of the official XSDs (or its parent with xsd/).",
        ),
    ] = None,
) -> None:
    """Validate FILE by its root namespace (MsgHead with KPR payload, AppRec 1.0/1.1, KPR).

    Prints ``valid`` or one ``line N: message`` per issue. Exit 1 when invalid, 2 when the
    input cannot be read, is unsafe or malformed, or the schemas cannot be loaded.
    """
    if standards is None:
        fail(f"no standards directory: pass --standards or set {STANDARDS_DIR_ENV}")
    data = read_input(file)
    try:
        issues = validate_document(data, load_schema_set(standards))
    except MessagesError as exc:
        fail(exc)
    if not issues:
        typer.echo("valid")
        return
    for issue in issues:
        typer.echo(" ".join(str(issue).split()))
    raise typer.Exit(EXIT_INVALID)
