"""Errors of kpr_gateway.registry: one root, split by what the caller should do about them.

- ``RegistryUnavailableError`` is transient: retry later (the cache serves a stale value).
- ``PartyNotFoundError`` and ``CertificateNotFoundError``: the registry answered, and the
  thing asked for does not exist; retrying will not help.
- ``RegistryFaultError``, ``RegistryAuthenticationError``, ``RegistryResponseError``: the
  request was refused, the credentials are wrong, or the answer cannot be used.
- ``ReceiverUnresolvedError``: a tenant's receiver cannot be resolved from its override or
  from the registry (configuration, an unfit certificate, a party without queues).
- ``UntrustedCertificateError`` (a ``ReceiverUnresolvedError``): a certificate from the
  registry fails the trust checks (chain, organisation number, revocation);
  ``RevocationUnknownError`` is the transient kind (no usable CRL, hard-fail), and is also a
  ``RegistryUnavailableError``.
- ``TrustBundleError``: the configured trust bundle cannot be used.

Texts name operations, HER-ids and fault codes only. Party names are personal data when the
party is a person (a GP, say), and fault reason texts may quote them, so neither is shown.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Root of every error raised by kpr_gateway.registry."""


class PartyNotFoundError(RegistryError):
    """No communication party has this HER-id (or the HER-id cannot be one)."""

    def __init__(self, message: str, *, her_id: str | None = None) -> None:
        super().__init__(message)
        self.her_id = her_id


class CertificateNotFoundError(RegistryError):
    """The party exists but the registry holds no certificate for the use asked."""

    def __init__(self, message: str, *, her_id: str) -> None:
        super().__init__(message)
        self.her_id = her_id


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached or failed on its side; worth retrying later."""


class RegistryAuthenticationError(RegistryError):
    """The registry refused our credentials (HTTP 401/403 or a security fault)."""


class RegistryFaultError(RegistryError):
    """The registry answered with a SOAP fault that blames the request."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        subcodes: tuple[str, ...] = (),
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcodes = subcodes
        self.error_code = error_code


class RegistryResponseError(RegistryError):
    """The answer is not usable: not SOAP 1.2, unsafe or malformed XML, missing parts."""


class ReceiverUnresolvedError(RegistryError):
    """A tenant's receiver (or own queues) cannot be resolved from override or registry."""


class TrustBundleError(RegistryError):
    """The trust bundle (the issuers' CA certificates) cannot be read or holds no CA."""


class UntrustedCertificateError(ReceiverUnresolvedError):
    """A certificate from the registry fails the trust checks; ``reason`` says which.

    Raised bare (the reason only) by ``CertificateTrust``; the directory raises it again with
    the tenant, the HER-id and the use in front (``in_context``).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason

    def in_context(self, where: str) -> UntrustedCertificateError:
        """The same error (same class) with ``where`` in front of its reason."""
        return type(self)(f"{where}: {self.reason}", reason=self.reason)


class CertificateRevokedError(UntrustedCertificateError):
    """The issuer's CRL lists the certificate."""


class RevocationUnknownError(UntrustedCertificateError, RegistryUnavailableError):
    """No usable CRL (unreachable, unsigned, outdated, none named) and revocation hard-fails:
    worth trying again later, as any registry outage."""
