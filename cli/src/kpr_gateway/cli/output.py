"""How every ``kprgw`` command fails: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(reason: object, *, code: int = 1) -> NoReturn:
    """Print ``error: <reason>`` on one line to stderr and exit with ``code``."""
    text = describe(reason) if isinstance(reason, Exception) else str(reason)
    typer.echo(f"error: {' '.join(text.split())}", err=True)
    raise typer.Exit(code=code)


def describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"
