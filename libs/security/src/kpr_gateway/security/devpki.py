"""A throw-away PKI for development and tests: one CA, and per party (a municipality or
FHI) a signing and an encryption certificate shaped like Norwegian enterprise certificates.

With ``crl_url`` the certificates name a CRL distribution point, as Buypass' and Commfides'
do, and ``crl`` makes the CA's CRL to serve there (revoking whichever certificates a test
asks). A second PKI can issue from the first one's CA (``ca=``), so one trust bundle (the
CA's ``ca.pem``) covers both.

Never for production: keys are written unencrypted (mode 0600) and the CA key is not kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kpr_gateway.security.certs import Credential, Usage

CA_NAME = "KPR Gateway development CA"
_KEY_BITS = 2048
_PUBLIC_EXPONENT = 65537
# Certificates start slightly in the past so clocks a little behind still accept them.
_BACKDATE = timedelta(hours=1)
_PARTY_NAME = re.compile(r"\w[\w.-]*")
_ORG_NUMBER = re.compile(r"\d{9}")
DEFAULT_CRL_VALIDITY = timedelta(days=1)


@dataclass(frozen=True)
class DevParty:
    name: str
    org_number: str
    signing: Credential
    encryption: Credential

    def credential(self, usage: Usage) -> Credential:
        return self.signing if usage is Usage.SIGNING else self.encryption


@dataclass(frozen=True)
class DevPki:
    ca: Credential
    parties: tuple[DevParty, ...]
    crl_url: str | None = None
    """Where the certificates say the CA's CRL is published (None: they name no CRL)."""

    @classmethod
    def create(
        cls,
        parties: Sequence[tuple[str, str]],
        *,
        valid_days: int = 365,
        now: datetime | None = None,
        ca: Credential | None = None,
        crl_url: str | None = None,
    ) -> DevPki:
        """A CA and two certificates per ``(name, org_number)``; names become file names.

        ``ca``: issue from this CA (another ``DevPki``'s) rather than a new one.
        ``crl_url``: the CRL distribution point every issued certificate names.
        """
        _check_parties(parties)
        if valid_days < 1:
            raise ValueError("valid_days must be at least 1")
        if crl_url is not None and not crl_url.startswith(("http://", "https://")):
            raise ValueError("crl_url must be an http:// or https:// URL")
        start = (now or datetime.now(UTC)) - _BACKDATE
        end = start + _BACKDATE + timedelta(days=valid_days)
        issuer = ca if ca is not None else _issue_ca(start, end)
        issued = tuple(
            DevParty(
                name=name,
                org_number=org_number,
                signing=_issue(
                    issuer, name, org_number, Usage.SIGNING, start=start, end=end, crl_url=crl_url
                ),
                encryption=_issue(
                    issuer,
                    name,
                    org_number,
                    Usage.ENCRYPTION,
                    start=start,
                    end=end,
                    crl_url=crl_url,
                ),
            )
            for name, org_number in parties
        )
        return cls(issuer, issued, crl_url)

    def crl(
        self,
        revoked: Iterable[x509.Certificate] = (),
        *,
        now: datetime | None = None,
        valid_for: timedelta = DEFAULT_CRL_VALIDITY,
        number: int = 1,
    ) -> bytes:
        """The CA's CRL (DER) listing ``revoked``, issued ``now`` and due again ``valid_for``
        later (its nextUpdate)."""
        moment = now or datetime.now(UTC)
        ca = self.ca.certificate
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(moment - _BACKDATE)
            .next_update(moment + valid_for)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.ca.private_key.public_key()
                ),
                critical=False,
            )
        )
        for certificate in revoked:
            try:
                certificate.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise ValueError("only certificates this CA issued can be on its CRL") from exc
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(certificate.serial_number)
                .revocation_date(moment - _BACKDATE)
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                .build()
            )
        return builder.sign(self.ca.private_key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER
        )

    def party(self, name: str) -> DevParty:
        for party in self.parties:
            if party.name == name:
                return party
        raise KeyError(name)

    def write(self, out_dir: Path | str) -> list[Path]:
        """Write ``ca.pem`` and per party ``NAME-{sign,enc}.{pem,key}``; returns the paths."""
        directory = Path(out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        written = [_write(directory / "ca.pem", _certificate_pem(self.ca.certificate))]
        for party in self.parties:
            for suffix, credential in (("sign", party.signing), ("enc", party.encryption)):
                stem = f"{party.name}-{suffix}"
                written.append(
                    _write(directory / f"{stem}.pem", _certificate_pem(credential.certificate))
                )
                written.append(
                    _write(directory / f"{stem}.key", _private_key_pem(credential), private=True)
                )
        return written

    def pkcs12(self, name: str, usage: Usage, password: bytes) -> bytes:
        """A password-protected .p12 of one party's key, certificate and the CA certificate."""
        credential = self.party(name).credential(usage)
        return pkcs12.serialize_key_and_certificates(
            name=name.encode("utf-8"),
            key=credential.private_key,
            cert=credential.certificate,
            cas=[self.ca.certificate],
            encryption_algorithm=serialization.BestAvailableEncryption(password),
        )


def _check_parties(parties: Sequence[tuple[str, str]]) -> None:
    names = [name for name, _ in parties]
    if len(set(names)) != len(names):
        raise ValueError("party names must be unique")
    for position, (name, org_number) in enumerate(parties):
        if not _PARTY_NAME.fullmatch(name):
            raise ValueError(
                f"party {position}: name must be letters, digits, '.', '-' or '_'"
                " (it becomes part of file names)"
            )
        if not _ORG_NUMBER.fullmatch(org_number):
            raise ValueError(f"party {position}: organisation number must be 9 digits")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=_KEY_BITS)


def _issue_ca(start: datetime, end: datetime) -> Credential:
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Credential(certificate, key)


def _issue(
    ca: Credential,
    name: str,
    org_number: str,
    usage: Usage,
    *,
    start: datetime,
    end: datetime,
    crl_url: str | None = None,
) -> Credential:
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, org_number),
        ]
    )
    if usage is Usage.SIGNING:
        key_usage = _key_usage(digital_signature=True, content_commitment=True)
    else:
        key_usage = _key_usage(key_encipherment=True, data_encipherment=True)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    if crl_url is not None:
        builder = builder.add_extension(_crl_distribution_point(crl_url), critical=False)
    return Credential(builder.sign(ca.private_key, hashes.SHA256()), key)


def _crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    data_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=data_encipherment,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _private_key_pem(credential: Credential) -> bytes:
    return credential.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> Path:
    mode = 0o600 if private else 0o644
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        # An existing file keeps its old mode through O_CREAT; set it explicitly.
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
    return path
