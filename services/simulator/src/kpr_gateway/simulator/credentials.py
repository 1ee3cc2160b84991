"""FHI's side of the CMS profile: the key it signs AppRecs with and the keys it decrypts with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kpr_gateway.security.certs import Credential, Usage, check_certificate
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.simulator.errors import SimulatorConfigError


@dataclass(frozen=True)
class ReceiverCredentials:
    """``decryption`` holds the current encryption key first, then any previous one."""

    signing: Credential
    decryption: tuple[Credential, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.decryption:
            raise SimulatorConfigError("at least one decryption key is needed")


@dataclass(frozen=True)
class KeyFiles:
    """A certificate and its private key as PEM (or DER) files."""

    certificate: Path
    key: Path


def load_receiver_credentials(
    signing: KeyFiles,
    encryption: Sequence[KeyFiles],
    *,
    password: bytes | None = None,
    now: datetime | None = None,
) -> ReceiverCredentials:
    """Load and check the signing pair and the encryption pairs (current first)."""
    signing_credential = _load("signing", signing, password)
    _check("signing", signing_credential, Usage.SIGNING, now)
    decryption = []
    for position, files in enumerate(encryption):
        credential = _load(f"encryption[{position}]", files, password)
        if position == 0:
            # An expired previous key still opens late messages; only the current one must be valid.
            _check("encryption", credential, Usage.ENCRYPTION, now)
        decryption.append(credential)
    return ReceiverCredentials(signing=signing_credential, decryption=tuple(decryption))


def _load(where: str, files: KeyFiles, password: bytes | None) -> Credential:
    try:
        return Credential.from_pem_files(files.certificate, files.key, password)
    except SecurityError as exc:
        raise SimulatorConfigError(f"FHI {where} credential: {exc}") from exc


def _check(where: str, credential: Credential, usage: Usage, now: datetime | None) -> None:
    try:
        check_certificate(credential.certificate, usage, now)
    except SecurityError as exc:
        raise SimulatorConfigError(f"FHI {where} credential: {exc}") from exc
