"""Revocation of the registry's certificates: the issuer's CRL, fetched over HTTP and cached.

Each certificate names where its issuer publishes its CRL (the CRL distribution points
extension; Buypass and Commfides publish over plain HTTP, which is fine: a CRL is signed).
``CrlChecker`` fetches the first of them that answers (httpx, ``timeout`` per request, at most
``MAX_CRL_BYTES``), checks that the CRL is the issuer's (name and signature), complete (no
delta or partial CRL) and current (thisUpdate not ahead, nextUpdate not past), and keeps it
until its nextUpdate: a CRL is fetched once per issuer and publication, not per certificate.

A certificate the CRL lists is always refused (``CertificateRevokedError``). When no usable
CRL can be had (unreachable, not the issuer's, outdated, or the certificate names none), the
mode decides: ``hard-fail`` refuses (``RevocationUnknownError``, transient: asked again
later), ``soft-fail`` accepts with a warning. A failed fetch is not tried again for
``retry_after`` (a minute), so a CRL server that is down costs one timeout, not one per lookup.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from kpr_gateway.registry.errors import CertificateRevokedError, RevocationUnknownError
from kpr_gateway.security.certs import describe_certificate

DEFAULT_CRL_TIMEOUT: Final = 5.0
DEFAULT_CRL_RETRY_AFTER: Final = timedelta(minutes=1)
MAX_CRL_BYTES: Final = 32 * 1024 * 1024
# A CRL issued a little ahead of our clock is still taken: clocks differ by seconds, not days.
CLOCK_SKEW: Final = timedelta(minutes=5)

_log = logging.getLogger(__name__)
_PEM_MARKER = b"-----BEGIN"
_FETCHABLE = ("http://", "https://")  # LDAP distribution points are skipped
_CRL_SIGNING_KEYS = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    dsa.DSAPublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


class RevocationMode(StrEnum):
    """What a certificate whose revocation cannot be checked gets."""

    HARD_FAIL = "hard-fail"
    """Refused (``RevocationUnknownError``); production's default."""
    SOFT_FAIL = "soft-fail"
    """Accepted, with a warning; development's default."""


class _UnusableCrlError(Exception):
    """Internal: this distribution point gave no usable CRL; the text says why."""


@dataclass(frozen=True, slots=True)
class _Held:
    crl: x509.CertificateRevocationList
    next_update: datetime


_Key = tuple[str, bytes]  # the URL, and the issuer's fingerprint


class CrlChecker:
    """Checks certificates against their issuers' CRLs, fetched with ``http`` (its owner
    closes it: the runtime shares the registry client's pool)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        mode: RevocationMode,
        timeout: float = DEFAULT_CRL_TIMEOUT,
        retry_after: timedelta = DEFAULT_CRL_RETRY_AFTER,
        max_bytes: int = MAX_CRL_BYTES,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retry_after < timedelta(0):
            raise ValueError("retry_after must not be negative")
        self._http = http
        self._mode = mode
        self._timeout = timeout
        self._retry_after = retry_after
        self._max_bytes = max_bytes
        self._held: dict[_Key, _Held] = {}
        self._failed: dict[_Key, tuple[datetime, str]] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}

    @property
    def mode(self) -> RevocationMode:
        return self._mode

    async def check(
        self, certificate: x509.Certificate, issuer: x509.Certificate, *, now: datetime
    ) -> None:
        """Raise ``CertificateRevokedError`` if ``issuer``'s CRL lists ``certificate``; when
        no CRL is usable, raise ``RevocationUnknownError`` (hard-fail) or log (soft-fail)."""
        urls = distribution_points(certificate)
        if not urls:
            self._unknown(certificate, "it names no HTTP CRL distribution point")
            return
        problems: list[str] = []
        for url in urls:
            try:
                crl = await self._crl(url, issuer, now)
                _check_scope(crl, certificate)
            except _UnusableCrlError as exc:
                problems.append(f"{url}: {exc}")
                continue
            entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
            if entry is not None:
                raise CertificateRevokedError(
                    f"it is revoked (on its issuer's CRL since"
                    f" {entry.revocation_date_utc:%Y-%m-%d}{_revocation_reason(entry)})"
                )
            return
        self._unknown(certificate, "; ".join(problems))

    def _unknown(self, certificate: x509.Certificate, why: str) -> None:
        if self._mode is RevocationMode.HARD_FAIL:
            raise RevocationUnknownError(f"its revocation cannot be checked: {why}")
        _log.warning(
            "revocation of %s cannot be checked (%s); accepted, as revocation soft-fails",
            describe_certificate(certificate),
            why,
        )

    async def _crl(
        self, url: str, issuer: x509.Certificate, now: datetime
    ) -> x509.CertificateRevocationList:
        key = (url, issuer.fingerprint(hashes.SHA256()))
        async with self._locks.setdefault(key, asyncio.Lock()):
            # Under the lock: certificates of one issuer checked together share one fetch.
            held = self._held.get(key)
            if held is not None and now < held.next_update:
                return held.crl
            failed = self._failed.get(key)
            if failed is not None and now < failed[0]:
                raise _UnusableCrlError(
                    f"{failed[1]} (not asked again before {failed[0]:%H:%M:%S})"
                )
            try:
                fetched = _read_crl(await self._fetch(url), issuer, now)
            except _UnusableCrlError as exc:
                self._failed[key] = (now + self._retry_after, str(exc))
                raise
            self._failed.pop(key, None)
            self._held[key] = fetched
            return fetched.crl

    async def _fetch(self, url: str) -> bytes:
        try:
            async with self._http.stream(
                "GET", url, timeout=self._timeout, follow_redirects=True
            ) as response:
                if response.status_code != httpx.codes.OK:
                    raise _UnusableCrlError(f"HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise _UnusableCrlError(f"larger than {self._max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise _UnusableCrlError(f"no answer within {self._timeout:g} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _UnusableCrlError(f"cannot be reached ({type(exc).__name__})") from exc


def distribution_points(certificate: x509.Certificate) -> list[str]:
    """The HTTP(S) URLs of the certificate's CRL distribution points, in its order.

    Points with a CRL issuer of their own (indirect CRLs) are skipped: their CRL is not
    signed by the certificate's issuer.
    """
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return []
    urls: list[str] = []
    for point in points.value:
        if point.crl_issuer is not None or point.full_name is None:
            continue
        for name in point.full_name:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.lower().startswith(
                _FETCHABLE
            ):
                urls.append(name.value)
    return urls


def _read_crl(data: bytes, issuer: x509.Certificate, now: datetime) -> _Held:
    """The CRL in ``data`` with its nextUpdate, if it is ``issuer``'s, complete and current."""
    try:
        if data.lstrip().startswith(_PEM_MARKER):
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise _UnusableCrlError("not a readable CRL") from exc
    if crl.issuer != issuer.subject:
        raise _UnusableCrlError("the CRL is not the issuer's")
    if not _may_sign_crls(issuer):
        raise _UnusableCrlError("the issuer's key usage does not allow signing CRLs")
    key = issuer.public_key()
    try:
        signed_by_issuer = isinstance(key, _CRL_SIGNING_KEYS) and crl.is_signature_valid(key)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        signed_by_issuer = False
    if not signed_by_issuer:
        raise _UnusableCrlError("the CRL's signature is not the issuer's")
    if crl.last_update_utc > now + CLOCK_SKEW:
        raise _UnusableCrlError(f"the CRL is issued in the future ({crl.last_update_utc:%Y-%m-%d})")
    next_update = crl.next_update_utc
    if next_update is None:
        raise _UnusableCrlError("the CRL has no nextUpdate")
    if next_update <= now:
        raise _UnusableCrlError(f"the CRL is outdated (nextUpdate {next_update:%Y-%m-%d %H:%M})")
    try:
        crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    except x509.ExtensionNotFound:
        return _Held(crl, next_update)
    raise _UnusableCrlError("a delta CRL, not a complete one")


def _check_scope(crl: x509.CertificateRevocationList, certificate: x509.Certificate) -> None:
    """Refuse a CRL that does not cover the certificate (a partitioned CRL)."""
    try:
        scope = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return
    if scope.indirect_crl or scope.only_some_reasons or scope.only_contains_attribute_certs:
        raise _UnusableCrlError("a partial CRL (its issuing distribution point limits it)")
    is_ca = _is_ca(certificate)
    if (scope.only_contains_ca_certs and not is_ca) or (scope.only_contains_user_certs and is_ca):
        raise _UnusableCrlError("the CRL does not cover this kind of certificate")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _may_sign_crls(issuer: x509.Certificate) -> bool:
    try:
        return issuer.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
    except x509.ExtensionNotFound:
        return True  # no keyUsage restricts nothing (RFC 5280, 4.2.1.3)


def _revocation_reason(entry: x509.RevokedCertificate) -> str:
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return ""
    return f", reason {reason.value}"
