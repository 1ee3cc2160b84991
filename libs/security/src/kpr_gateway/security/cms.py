"""Seal and open messages per the NHN CMS profile (DESIGN.md section 4).

Seal: SignedData (SHA-256, RSA PKCS#1 v1.5, content and signer certificate attached,
signer by issuer and serial) over the exact content bytes, then EnvelopedData (AES-256-CBC,
RSA PKCS#1 v1.5 key transport, recipient by issuer and serial) whose id-data content is
the DER of that SignedData ContentInfo.

Open: the reverse, tolerant of what older peers send (AES-128/192/256-CBC, 3DES-CBC,
RSA-OAEP, SHA-1/384/512, RSASSA-PSS), strict about who signed and whether their
certificate is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from kpr_gateway.security._cms_decrypt import decrypt_enveloped, load_enveloped_data
from kpr_gateway.security._cms_verify import load_signed_data, verify_signed_data
from kpr_gateway.security.certs import Credential, Usage, check_certificate
from kpr_gateway.security.errors import CertificateError

CONTENT_TYPE = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"

# Binary: sign the bytes as they are (no LF -> CRLF). SMIME capabilities and signing time
# stay in the signed attributes; openssl and NHN's client accept them.
_OPTIONS = [pkcs7.PKCS7Options.Binary]


@dataclass(frozen=True)
class OpenedMessage:
    """The verified content and the certificate that signed it."""

    content: bytes = field(repr=False)
    signer: x509.Certificate


def seal(
    content: bytes,
    signer: Credential,
    recipient: x509.Certificate,
    *,
    now: datetime | None = None,
) -> bytes:
    """Sign ``content`` with ``signer`` and encrypt it for ``recipient``; DER ContentInfo."""
    check_certificate(signer.certificate, Usage.SIGNING, now)
    check_certificate(recipient, Usage.ENCRYPTION, now)
    try:
        signed = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(signer.certificate, signer.private_key, hashes.SHA256())
            .sign(serialization.Encoding.DER, _OPTIONS)
        )
        return (
            pkcs7.PKCS7EnvelopeBuilder()
            .set_data(signed)
            .add_recipient(recipient)
            .set_content_encryption_algorithm(algorithms.AES256)
            .encrypt(serialization.Encoding.DER, _OPTIONS)
        )
    except (TypeError, ValueError) as exc:
        raise CertificateError(
            "certificates are not usable for the CMS profile (RSA needed)"
        ) from exc


def open_sealed(
    data: bytes,
    decryption_keys: Sequence[Credential],
    expected_signer: x509.Certificate | None,
    *,
    now: datetime | None = None,
) -> OpenedMessage:
    """Decrypt with the first matching key (current, then previous) and verify the signature.

    With ``expected_signer`` (the sender's signing certificate from the Address Registry)
    the message must be signed by exactly that certificate. The signer's certificate must
    be valid at ``now`` and allow signing.
    """
    enveloped = load_enveloped_data(data)
    decrypted = decrypt_enveloped(enveloped, decryption_keys)
    signed = load_signed_data(decrypted.content_type, decrypted.content)
    verified = verify_signed_data(signed, expected_signer)
    check_certificate(verified.signer, Usage.SIGNING, now)
    return OpenedMessage(verified.content, verified.signer)
