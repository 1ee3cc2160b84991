"""Helpers of the CMS conformance tests: the dev PKI on disk and an ``openssl`` runner."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpr_gateway.security.devpki import DevPki


@dataclass(frozen=True)
class PkiFiles:
    pki: DevPki
    directory: Path

    def cert(self, party: str, usage: str) -> Path:
        return self.directory / f"{party}-{usage}.pem"

    def key(self, party: str, usage: str) -> Path:
        return self.directory / f"{party}-{usage}.key"

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"


class Openssl:
    """Runs the ``openssl`` executable and fails the test with openssl's own message."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def run(self, *args: str | Path) -> bytes:
        done = self._call(args)
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace")
            pytest.fail(f"{self._show(args)} exited {done.returncode}:\n{reason}")
        return done.stdout

    def refuses(self, *args: str | Path) -> str:
        """Run a command that must fail; returns its error output."""
        done = self._call(args)
        if done.returncode == 0:
            pytest.fail(f"{self._show(args)} succeeded but should have failed")
        return done.stderr.decode(errors="replace")

    def _call(self, args: tuple[str | Path, ...]) -> subprocess.CompletedProcess[bytes]:
        command = [self.executable, *map(str, args)]
        return subprocess.run(command, capture_output=True, check=False)

    def _show(self, args: tuple[str | Path, ...]) -> str:
        return " ".join(["openssl", *map(str, args)])
