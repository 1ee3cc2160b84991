"""``kprgw pki``: a development PKI for trying the gateway and its simulator locally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpr_gateway.cli.output import fail
from kpr_gateway.security.devpki import DevPki

app = typer.Typer(no_args_is_help=True, help="Development certificates (never for production).")


@app.callback()
def _group() -> None:
    """Development certificates (never for production)."""


@app.command()
def dev(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")],
    party: Annotated[
        list[str],
        typer.Option("--party", help="NAME:ORGNR, once per party (municipality, FHI, ...)."),
    ],
    valid_days: Annotated[int, typer.Option("--valid-days", min=1)] = 365,
) -> None:
    """Make a CA and, per party, a signing and an encryption certificate with keys.

    Writes ca.pem and NAME-sign.pem, NAME-sign.key, NAME-enc.pem, NAME-enc.key (keys are
    unencrypted PKCS#8, mode 0600).
    """
    parties = [_parse_party(position, spec) for position, spec in enumerate(party)]
    try:
        pki = DevPki.create(parties, valid_days=valid_days)
        written = pki.write(out)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    for path in written:
        typer.echo(str(path))


def _parse_party(position: int, spec: str) -> tuple[str, str]:
    name, separator, org_number = spec.rpartition(":")
    if not separator or not name or not org_number:
        fail(f"--party {position}: expected NAME:ORGNR")
    return name, org_number
