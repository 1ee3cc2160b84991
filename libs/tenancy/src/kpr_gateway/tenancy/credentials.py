"""A tenant's certificates and keys, loaded from their mounted files, and the receiver's
certificates (from the static override until the Address Registry client is used).

Loading checks each certificate for its use (signing: nonRepudiation; encryption:
keyEncipherment) and validity, so a service refuses to start with the wrong certificate
rather than failing on the first message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from kpr_gateway.security.certs import (
    Credential,
    Usage,
    check_certificate,
    load_certificate,
)
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.tenancy.errors import TenantFileError
from kpr_gateway.tenancy.model import KeyPairFiles, Tenant
from kpr_gateway.tenancy.receivers import kpr_receiver


@dataclass(frozen=True)
class TenantCredentials:
    signing: Credential
    decryption: tuple[Credential, ...] = field(repr=False)
    """The current encryption key first, then the previous one during a rotation."""


@dataclass(frozen=True)
class ReceiverCertificates:
    encryption: x509.Certificate
    signing: x509.Certificate
    async_queue: str


def load_tenant_credentials(tenant: Tenant, *, now: datetime | None = None) -> TenantCredentials:
    if tenant.certificates is None:
        raise TenantFileError(f"tenant {tenant.id}: certificates are not configured")
    signing = _load(tenant, "certificates.signing", tenant.certificates.signing)
    encryption = _load(tenant, "certificates.encryption", tenant.certificates.encryption)
    _check(tenant, "certificates.signing", signing.certificate, Usage.SIGNING, now)
    _check(tenant, "certificates.encryption", encryption.certificate, Usage.ENCRYPTION, now)
    decryption = [encryption]
    previous = tenant.certificates.previous_encryption
    if previous is not None:
        # an expired previous key still decrypts late answers; only its use is checked
        decryption.append(_load(tenant, "certificates.previous_encryption", previous))
    return TenantCredentials(signing=signing, decryption=tuple(decryption))


def load_receiver_certificates(
    tenant: Tenant, *, now: datetime | None = None
) -> ReceiverCertificates:
    override = tenant.receiver_override
    if override is None:
        raise TenantFileError(
            f"tenant {tenant.id}: receiver_override is not configured (needed without the "
            "Address Registry)"
        )
    encryption = _certificate(
        tenant, "receiver_override.encryption_certificate", override.encryption_certificate
    )
    signing = _certificate(
        tenant, "receiver_override.signing_certificate", override.signing_certificate
    )
    _check(tenant, "receiver_override.encryption_certificate", encryption, Usage.ENCRYPTION, now)
    _check(tenant, "receiver_override.signing_certificate", signing, Usage.SIGNING, now)
    receiver = kpr_receiver(tenant.environment)
    her_id = receiver.service.her_id if receiver.service is not None else receiver.her_id
    return ReceiverCertificates(
        encryption=encryption,
        signing=signing,
        async_queue=override.async_queue or f"{her_id}_async",
    )


def _load(tenant: Tenant, where: str, files: KeyPairFiles) -> Credential:
    password = _password(tenant, where, files.password_file)
    try:
        if files.pkcs12 is not None:
            return Credential.from_pkcs12(files.pkcs12, password)
        if files.certificate is None or files.key is None:  # the model already refuses this
            raise TenantFileError(f"tenant {tenant.id}: {where}: certificate and key needed")
        return Credential.from_pem_files(files.certificate, files.key, password)
    except SecurityError as exc:
        raise TenantFileError(f"tenant {tenant.id}: {where}: {exc}") from exc


def _certificate(tenant: Tenant, where: str, path: Path) -> x509.Certificate:
    try:
        return load_certificate(path)
    except SecurityError as exc:
        raise TenantFileError(f"tenant {tenant.id}: {where}: {exc}") from exc


def _check(
    tenant: Tenant, where: str, certificate: x509.Certificate, usage: Usage, now: datetime | None
) -> None:
    try:
        check_certificate(certificate, usage, now)
    except SecurityError as exc:
        raise TenantFileError(f"tenant {tenant.id}: {where}: {exc}") from exc


def _password(tenant: Tenant, where: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise TenantFileError(
            f"tenant {tenant.id}: {where}.password_file cannot be read ({exc.strerror})"
        ) from exc
