"""Whether a certificate from the Address Registry may be used: ``CertificateTrust``.

The registry (or a Redis cache in front of it, which anyone with Redis access can write)
hands out certificates; the gateway encrypts for them and believes signatures made with
them. So each one must:

1. chain to an issuer in the trust bundle: the CA certificates of the Norwegian enterprise
   certificate issuers (Buypass, Commfides) in production, the development PKI's CA in tests
   and local runs. Verified with ``cryptography.x509.verification`` at the given moment, with
   the path rules of RFC 5280 (CA flags, key usage for signing certificates, validity of each
   certificate in the chain, RSA keys of 2048 bits or more);
2. belong to the expected organisation: Folkehelseinstituttet (983744516) for KPR's
   certificates, the municipality for its own. Enterprise certificates carry the
   organisation number in the subject, as ``serialNumber`` (SEID 1) or as
   ``organizationIdentifier`` ``NTRNO-<number>`` (SEID 2); every one present must be the
   expected one;
3. not be revoked: each certificate in the chain below the trust bundle against its issuer's
   CRL (``revocation.CrlChecker``).

Key usage and validity dates for the use are the caller's check
(``kpr_gateway.security.certs.check_certificate``), as for certificates from files.

The bundle is a PEM file (``TrustBundle``), read again when it changes: a mounted ConfigMap
or Secret is updated in place when an issuer adds a CA. It may hold the issuing CAs alone
(each is then a trust anchor), or with their roots: the roots are the anchors and the issuing
CAs chain up to them, so an issuing CA's own revocation (on its root's CRL) is checked too.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from kpr_gateway.registry.errors import TrustBundleError, UntrustedCertificateError
from kpr_gateway.registry.revocation import CrlChecker

FHI_ORG_NUMBER: Final = "983744516"
"""Folkehelseinstituttet's organisation number, which KPR's certificates carry."""

_log = logging.getLogger(__name__)
_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
_NTR_PREFIX = "NTRNO-"
_ORG_NUMBER = re.compile(r"[0-9]{9}")
# cryptography appends the certificate (subject and all) it stopped at; a subject may name a
# person, so errors keep only the reason before it.
_ENCOUNTERED = " (encountered processing"


class TrustBundle:
    """The issuers' CA certificates from a PEM file, read again when the file changes.

    The first read must succeed (``TrustBundleError``); a later change that cannot be read
    keeps the certificates read before, with a warning.
    """

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._stamp = _stamp(self._path)
        self._certificates = load_trust_bundle(self._path)

    @property
    def path(self) -> Path:
        return self._path

    def certificates(self) -> tuple[x509.Certificate, ...]:
        try:
            stamp = _stamp(self._path)
        except TrustBundleError as exc:
            _log.warning("trust bundle: %s; the certificates read before are used", exc)
            return self._certificates
        if stamp != self._stamp:
            self._stamp = stamp  # warn once per change, not once per lookup
            try:
                self._certificates = load_trust_bundle(self._path)
            except TrustBundleError as exc:
                _log.warning(
                    "trust bundle changed but %s; the certificates read before are used", exc
                )
            else:
                _log.info(
                    "trust bundle %s read again: %d CA certificate(s)",
                    self._path,
                    len(self._certificates),
                )
        return self._certificates


def load_trust_bundle(path: Path | str) -> tuple[x509.Certificate, ...]:
    """The CA certificates in a PEM file; ``TrustBundleError`` unless it holds at least one
    and nothing else."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrustBundleError(f"trust bundle {path} cannot be read ({exc.strerror})") from exc
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TrustBundleError(f"trust bundle {path} holds no readable PEM certificates") from exc
    for position, certificate in enumerate(certificates, start=1):
        if not _is_ca(certificate):
            raise TrustBundleError(
                f"trust bundle {path}: certificate {position} is not a CA certificate"
            )
    return tuple(certificates)


def organisation_numbers(certificate: x509.Certificate) -> frozenset[str]:
    """The organisation numbers an enterprise certificate's subject names: ``serialNumber``
    values of nine digits and ``organizationIdentifier`` values ``NTRNO-<nine digits>``."""
    found: set[str] = set()
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
        value = _text(attribute.value)
        if _ORG_NUMBER.fullmatch(value):
            found.add(value)
    for attribute in certificate.subject.get_attributes_for_oid(_ORGANIZATION_IDENTIFIER):
        value = _text(attribute.value)
        number = value.removeprefix(_NTR_PREFIX)
        if value.startswith(_NTR_PREFIX) and _ORG_NUMBER.fullmatch(number):
            found.add(number)
    return frozenset(found)


class CertificateTrust:
    """Chain to ``issuers``, the expected organisation number, and revocation (``crls``)."""

    def __init__(self, issuers: TrustBundle | Sequence[x509.Certificate], crls: CrlChecker) -> None:
        if not isinstance(issuers, TrustBundle):
            issuers = tuple(issuers)
            if not issuers or not all(_is_ca(issuer) for issuer in issuers):
                raise TrustBundleError("a trust bundle needs at least one CA, and CAs only")
        self._issuers = issuers
        self._crls = crls

    @property
    def crls(self) -> CrlChecker:
        return self._crls

    def issuers(self) -> tuple[x509.Certificate, ...]:
        if isinstance(self._issuers, TrustBundle):
            return self._issuers.certificates()
        return self._issuers

    async def verify(
        self,
        certificate: x509.Certificate,
        *,
        organisation_number: str,
        now: datetime | None = None,
    ) -> None:
        """Raise ``UntrustedCertificateError`` (the reason only, no names) unless the
        certificate chains to the bundle at ``now``, belongs to ``organisation_number`` and
        is not revoked; ``RevocationUnknownError`` when revocation cannot be checked and
        hard-fails."""
        moment = now or datetime.now(UTC)
        chain = self._chain(certificate, moment)
        _check_organisation(certificate, organisation_number)
        # Each certificate below the bundle's, against its issuer's CRL.
        for subject, issuer in itertools.pairwise(chain):
            await self._crls.check(subject, issuer, now=moment)

    def _chain(self, certificate: x509.Certificate, moment: datetime) -> list[x509.Certificate]:
        anchors, intermediates = _roles(self.issuers())
        verifier = (
            PolicyBuilder()
            .store(Store(anchors))
            .time(moment)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
            .build_client_verifier()
        )
        try:
            return verifier.verify(certificate, intermediates).chain
        except (VerificationError, ValueError) as exc:
            raise UntrustedCertificateError(
                f"it does not chain to an issuer in the trust bundle ({_reason(exc)})"
            ) from None


def _roles(
    bundle: Sequence[x509.Certificate],
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(anchors, intermediates): self-signed CAs and CAs whose issuer is not in the bundle are
    anchors; the others chain up through the bundle."""
    subjects = {certificate.subject for certificate in bundle}
    anchors: list[x509.Certificate] = []
    intermediates: list[x509.Certificate] = []
    for certificate in bundle:
        if certificate.issuer == certificate.subject or certificate.issuer not in subjects:
            anchors.append(certificate)
        else:
            intermediates.append(certificate)
    return anchors, intermediates


def _check_organisation(certificate: x509.Certificate, expected: str) -> None:
    numbers = organisation_numbers(certificate)
    if not numbers:
        raise UntrustedCertificateError(
            "it names no organisation number (serialNumber or organizationIdentifier NTRNO-)"
            f"; expected {expected}"
        )
    if numbers != {expected}:
        named = ", ".join(sorted(numbers))
        raise UntrustedCertificateError(
            f"it belongs to organisation number {named}, not to {expected}"
        )


def _ca_flag(_policy: Policy, _certificate: x509.Certificate, value: x509.BasicConstraints) -> None:
    if not value.ca:
        raise ValueError("an issuer without the CA flag")


def _ca_key_usage(
    _policy: Policy, _certificate: x509.Certificate, value: x509.KeyUsage | None
) -> None:
    if value is not None and not value.key_cert_sign:
        raise ValueError("an issuer whose key usage does not allow signing certificates")


def _not_a_ca(
    _policy: Policy, _certificate: x509.Certificate, value: x509.BasicConstraints | None
) -> None:
    if value is not None and value.ca:
        raise ValueError("a CA certificate, not an enterprise certificate")


# Enterprise certificates are no Web PKI certificates (no subjectAltName, no extended key
# usage): RFC 5280's rules for issuers, and for the certificate itself only that it is no CA.
_CA_POLICY: Final = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _ca_flag)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_key_usage)
)
_EE_POLICY: Final = ExtensionPolicy.permit_all().may_be_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca
)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        status = os.stat(path)
    except OSError as exc:
        raise TrustBundleError(f"trust bundle {path} cannot be read ({exc.strerror})") from exc
    return status.st_mtime_ns, status.st_size, status.st_ino


def _reason(exc: Exception) -> str:
    text = str(exc).split(_ENCOUNTERED, 1)[0].strip()
    return text.removeprefix("validation failed: ") or type(exc).__name__


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
