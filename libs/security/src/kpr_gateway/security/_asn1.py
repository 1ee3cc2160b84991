"""Small bridges between asn1crypto structures and cryptography objects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from kpr_gateway.security.errors import NotCmsError, UnsupportedAlgorithmError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@contextmanager
def malformed_as(structure: str) -> Iterator[None]:
    """asn1crypto parses lazily, so decoding errors surface on access: report as NotCmsError."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise NotCmsError(f"malformed {structure}") from exc


def hash_algorithm(name: str, purpose: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name]()
    except KeyError:
        raise UnsupportedAlgorithmError(f"{purpose} digest {name} is not supported") from None


def to_asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def identifies(
    identifier: asn1_cms.SignerIdentifier | asn1_cms.RecipientIdentifier,
    cert: asn1_x509.Certificate,
) -> bool:
    """Whether a CMS signer or recipient identifier (issuer+serial or SKI) names ``cert``."""
    if identifier.name == "issuer_and_serial_number":
        wanted = identifier.chosen
        return bool(
            wanted["serial_number"].native == cert.serial_number and wanted["issuer"] == cert.issuer
        )
    if identifier.name == "subject_key_identifier":
        return bool(cert.key_identifier is not None and identifier.native == cert.key_identifier)
    return False


def describe_identifier(
    identifier: asn1_cms.SignerIdentifier | asn1_cms.RecipientIdentifier,
) -> str:
    if identifier.name == "issuer_and_serial_number":
        return f"serial {identifier.chosen['serial_number'].native:x}"
    return f"key id {bytes(identifier.native).hex()}"
