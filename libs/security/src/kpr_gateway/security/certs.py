"""Loading certificates and keys, and checking that a certificate is fit for a use.

Private keys come from files only (mounted Kubernetes Secrets) and are never logged or
shown in a repr; errors name files and certificate serials, never key material.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kpr_gateway.security.errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateNotYetValidError,
    KeyLoadError,
    WrongKeyUsageError,
)

_PEM_MARKER = b"-----BEGIN"
# SEID 2 enterprise certificates carry the organisation number as "NTRNO-<number>".
_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
_NTR_PREFIX = "NTRNO-"

Password = str | bytes | None


class Usage(enum.Enum):
    """What a certificate is used for in the NHN profile."""

    SIGNING = "signing"
    ENCRYPTION = "encryption"


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key; the key never shows in repr or str."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if self.certificate.public_key() != self.private_key.public_key():
            raise KeyLoadError(
                f"private key does not belong to {describe_certificate(self.certificate)}"
            )

    @classmethod
    def from_pem_files(
        cls, certificate: Path | str, private_key: Path | str, password: Password = None
    ) -> Credential:
        """Certificate file (PEM or DER) and private key file (PEM, optionally encrypted)."""
        return cls(load_certificate(certificate), load_private_key(private_key, password))

    @classmethod
    def from_pkcs12(cls, path: Path | str, password: Password) -> Credential:
        contents = load_pkcs12(path, password)
        return cls(contents.certificate, contents.private_key)


@dataclass(frozen=True)
class Pkcs12Contents:
    """What a .p12 file holds: the key, its certificate and any chain certificates."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate
    additional_certificates: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class CertificateSummary:
    """The facts an operator needs about a certificate (enterprise certificates hold no persons)."""

    subject_organisation: str | None
    organisation_number: str | None
    common_name: str | None
    issuer_common_name: str | None
    serial_number: str
    not_before: datetime
    not_after: datetime
    key_usages: tuple[str, ...]
    sha256_fingerprint: str


def parse_certificate(data: bytes) -> x509.Certificate:
    """One certificate from PEM or DER bytes."""
    try:
        if data.lstrip().startswith(_PEM_MARKER):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise CertificateError("not a readable X.509 certificate (PEM or DER)") from exc


def load_certificate(path: Path | str) -> x509.Certificate:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read certificate file {path}: {exc.strerror}") from exc
    try:
        return parse_certificate(data)
    except CertificateError as exc:
        raise CertificateError(f"{path}: {exc}") from exc


def load_private_key(path: Path | str, password: Password = None) -> rsa.RSAPrivateKey:
    """An RSA private key from a PEM (or DER) file; encrypted keys need ``password``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read private key file {path}: {exc.strerror}") from exc
    secret = _password_bytes(password)
    try:
        if data.lstrip().startswith(_PEM_MARKER):
            key = serialization.load_pem_private_key(data, secret)
        else:
            key = serialization.load_der_private_key(data, secret)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The library's text may say why (wrong password, not encrypted); it never holds key bytes.
        raise KeyLoadError(f"cannot load private key from {path}: {_reason(exc)}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyLoadError(f"private key in {path} is not an RSA key")
    return key


def load_pkcs12(path: Path | str, password: Password) -> Pkcs12Contents:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read PKCS#12 file {path}: {exc.strerror}") from exc
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, _password_bytes(password))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(
            f"cannot open PKCS#12 file {path} (wrong password or damaged file)"
        ) from exc
    if key is None or certificate is None:
        raise KeyLoadError(
            f"PKCS#12 file {path} does not hold both a private key and a certificate"
        )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyLoadError(f"private key in {path} is not an RSA key")
    return Pkcs12Contents(key, certificate, tuple(extra))


def check_certificate(cert: x509.Certificate, usage: Usage, now: datetime | None = None) -> None:
    """Raise unless ``cert`` is valid at ``now`` and its key usage allows ``usage``.

    Signing needs nonRepudiation (digitalSignature beside it is fine); encryption needs
    keyEncipherment. A certificate without a keyUsage extension is refused: enterprise
    certificates always carry one, and its absence means the certificate is not one.
    """
    moment = _moment(now)
    if moment < cert.not_valid_before_utc:
        raise CertificateNotYetValidError(
            f"{describe_certificate(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}"
        )
    if moment > cert.not_valid_after_utc:
        raise CertificateExpiredError(
            f"{describe_certificate(cert)} expired {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    usages = key_usages(cert)
    required = "nonRepudiation" if usage is Usage.SIGNING else "keyEncipherment"
    if required not in usages:
        found = ", ".join(usages) or "none"
        raise WrongKeyUsageError(
            f"{describe_certificate(cert)} lacks key usage {required} for {usage.value}"
            f" (has: {found})"
        )


def days_to_expiry(cert: x509.Certificate, now: datetime | None = None) -> int:
    """Whole days left until notAfter; negative once expired."""
    return (cert.not_valid_after_utc - _moment(now)).days


def key_usages(cert: x509.Certificate) -> tuple[str, ...]:
    """The keyUsage bits that are set, by their RFC 5280 names."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    flags = {
        "digitalSignature": usage.digital_signature,
        "nonRepudiation": usage.content_commitment,
        "keyEncipherment": usage.key_encipherment,
        "dataEncipherment": usage.data_encipherment,
        "keyAgreement": usage.key_agreement,
        "keyCertSign": usage.key_cert_sign,
        "cRLSign": usage.crl_sign,
    }
    if usage.key_agreement:
        flags["encipherOnly"] = usage.encipher_only
        flags["decipherOnly"] = usage.decipher_only
    return tuple(name for name, is_set in flags.items() if is_set)


def certificate_summary(cert: x509.Certificate) -> CertificateSummary:
    return CertificateSummary(
        subject_organisation=_first(cert.subject, NameOID.ORGANIZATION_NAME),
        organisation_number=_organisation_number(cert.subject),
        common_name=_first(cert.subject, NameOID.COMMON_NAME),
        issuer_common_name=_first(cert.issuer, NameOID.COMMON_NAME),
        serial_number=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_usages=key_usages(cert),
        sha256_fingerprint=fingerprint(cert),
    )


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as ``openssl x509 -fingerprint -sha256`` prints it."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def describe_certificate(cert: x509.Certificate) -> str:
    """How errors and logs name a certificate: by serial and fingerprint, never by holder."""
    return f"certificate serial {cert.serial_number:x} (sha256 {fingerprint(cert)[:23]})"


def _organisation_number(name: x509.Name) -> str | None:
    serial = _first(name, NameOID.SERIAL_NUMBER)
    if serial:
        return serial
    identifier = _first(name, _ORGANIZATION_IDENTIFIER)
    if identifier and identifier.startswith(_NTR_PREFIX):
        return identifier.removeprefix(_NTR_PREFIX)
    return identifier


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values: Iterable[x509.NameAttribute[str | bytes]] = name.get_attributes_for_oid(oid)
    for attribute in values:
        value = attribute.value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def _moment(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _password_bytes(password: Password) -> bytes | None:
    return password.encode("utf-8") if isinstance(password, str) else password


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
