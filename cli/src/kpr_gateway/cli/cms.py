"""``kprgw cms``: seal and open messages with the NHN CMS profile, for tests and support."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpr_gateway.cli.output import fail
from kpr_gateway.security.certs import Credential, load_certificate
from kpr_gateway.security.cms import open_sealed, seal
from kpr_gateway.security.errors import SecurityError

app = typer.Typer(no_args_is_help=True, help="Sign+encrypt and decrypt+verify CMS (DER).")

InPath = Annotated[Path | None, typer.Option("--in", help="Input file (default: stdin).")]
OutPath = Annotated[Path | None, typer.Option("--out", help="Output file (default: stdout).")]


@app.callback()
def _group() -> None:
    """Sign+encrypt and decrypt+verify CMS (DER)."""


@app.command("seal")
def seal_command(
    *,
    sign_cert: Annotated[Path, typer.Option("--sign-cert", help="Our signing certificate.")],
    sign_key: Annotated[Path, typer.Option("--sign-key", help="Its private key (PEM).")],
    recipient_cert: Annotated[
        Path, typer.Option("--recipient-cert", help="The receiver's encryption certificate.")
    ],
    input_path: InPath = None,
    output_path: OutPath = None,
) -> None:
    """Sign the input and encrypt it for the recipient (SignedData inside EnvelopedData)."""
    try:
        signer = Credential.from_pem_files(sign_cert, sign_key)
        sealed = seal(_read(input_path), signer, load_certificate(recipient_cert))
        _write(output_path, sealed)
    except (SecurityError, OSError) as exc:
        fail(exc)


@app.command("open")
def open_command(
    *,
    cert: Annotated[Path, typer.Option("--cert", help="Our encryption certificate.")],
    key: Annotated[Path, typer.Option("--key", help="Its private key (PEM).")],
    signer_cert: Annotated[
        Path, typer.Option("--signer-cert", help="The sender's signing certificate.")
    ],
    previous_cert: Annotated[
        Path | None, typer.Option("--previous-cert", help="Previous encryption certificate.")
    ] = None,
    previous_key: Annotated[
        Path | None, typer.Option("--previous-key", help="Its private key (PEM).")
    ] = None,
    input_path: InPath = None,
    output_path: OutPath = None,
) -> None:
    """Decrypt with our key (or the previous one) and verify the sender's signature."""
    if (previous_cert is None) != (previous_key is None):
        fail("--previous-cert and --previous-key go together")
    try:
        keys = [Credential.from_pem_files(cert, key)]
        if previous_cert is not None and previous_key is not None:
            keys.append(Credential.from_pem_files(previous_cert, previous_key))
        opened = open_sealed(_read(input_path), keys, load_certificate(signer_cert))
        _write(output_path, opened.content)
    except (SecurityError, OSError) as exc:
        fail(exc)


def _read(path: Path | None) -> bytes:
    if path is None:
        return typer.get_binary_stream("stdin").read()
    return path.read_bytes()


def _write(path: Path | None, data: bytes) -> None:
    if path is None:
        stream = typer.get_binary_stream("stdout")
        stream.write(data)
        stream.flush()
    else:
        path.write_bytes(data)
