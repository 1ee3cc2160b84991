"""Exceptions of kpr_gateway.security; everything raised here derives from ``SecurityError``.

Texts name certificates by serial number and fingerprint, never by holder, and never
contain key material or message content.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Root of every error raised by kpr_gateway.security."""


class NotCmsError(SecurityError):
    """The bytes are not a CMS structure of the kind the profile expects."""


class WrongRecipientError(SecurityError):
    """The message is not encrypted for any of the keys we hold."""


class DecryptionError(SecurityError):
    """A recipient matched but the content could not be decrypted (corrupt or tampered)."""


class UnsupportedAlgorithmError(SecurityError):
    """An algorithm outside the profile (and outside what older peers are allowed to use)."""


class BadSignatureError(SecurityError):
    """Signed content was changed, the digest does not match, or the signature maths fails."""


class UnexpectedSignerError(SecurityError):
    """The message is signed by someone other than the expected sender."""


class CertificateError(SecurityError):
    """A certificate cannot be read or is not fit for the use asked of it."""


class CertificateExpiredError(CertificateError):
    """The certificate's notAfter lies in the past."""


class CertificateNotYetValidError(CertificateError):
    """The certificate's notBefore lies in the future."""


class WrongKeyUsageError(CertificateError):
    """The certificate's key usage does not allow the operation."""


class KeyLoadError(SecurityError):
    """A private key (or PKCS#12 bundle) cannot be read, decrypted or matched to its certificate."""
