"""Verifying a CMS SignedData with attached content.

cryptography has no CMS verification, so asn1crypto reads the structure and cryptography
checks the digest and the RSA signature.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kpr_gateway.security._asn1 import (
    describe_identifier,
    hash_algorithm,
    identifies,
    malformed_as,
    to_asn1_certificate,
)
from kpr_gateway.security.certs import describe_certificate
from kpr_gateway.security.errors import (
    BadSignatureError,
    DecryptionError,
    NotCmsError,
    UnexpectedSignerError,
    UnsupportedAlgorithmError,
)

# DER tag of a SET OF: signed attributes travel as [0] IMPLICIT but are signed as a SET OF.
_SET_OF_TAG = b"\x31"


@dataclass(frozen=True)
class VerifiedContent:
    content: bytes
    signer: x509.Certificate


def load_signed_data(content_type: str, data: bytes) -> asn1_cms.SignedData:
    """The SignedData inside an envelope: a whole ContentInfo (the profile) or a bare SignedData."""
    try:
        if content_type == "signed_data":
            signed = asn1_cms.SignedData.load(data, strict=True)
            signed["signer_infos"]  # force the lazy parse while errors still mean "not CMS"
            return signed
        info = asn1_cms.ContentInfo.load(data, strict=True)
        inner = info["content_type"].native
        content = info["content"]
    except (ValueError, TypeError, KeyError) as exc:
        raise DecryptionError(
            "decrypted content is not a CMS SignedData (corrupt, tampered or unsigned)"
        ) from exc
    if inner != "signed_data" or not isinstance(content, asn1_cms.SignedData):
        raise NotCmsError(f"envelope holds {inner}, not a SignedData")
    return content


def verify_signed_data(
    signed: asn1_cms.SignedData, expected_signer: x509.Certificate | None
) -> VerifiedContent:
    """Check the one signature on ``signed``; the signer's validity is the caller's to check."""
    with malformed_as("SignedData"):
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            raise NotCmsError(f"expected exactly one signer, found {len(signer_infos)}")
        signer_info = signer_infos[0]
        encapsulated = signed["encap_content_info"]
        if encapsulated["content"].native is None:
            raise NotCmsError("signed content is detached; the profile needs it attached")
        content = bytes(encapsulated["content"])
        signer = _find_signer(signed, signer_info, expected_signer)
        digest = hash_algorithm(signer_info["digest_algorithm"]["algorithm"].native, "signature")
        signed_bytes = _signed_bytes(signer_info, encapsulated, content, digest)
        _verify_signature(signer_info, signer, signed_bytes, digest)
    return VerifiedContent(content, signer)


def _find_signer(
    signed: asn1_cms.SignedData,
    signer_info: asn1_cms.SignerInfo,
    expected_signer: x509.Certificate | None,
) -> x509.Certificate:
    sid = signer_info["sid"]
    candidates: list[asn1_x509.Certificate] = [
        choice.chosen for choice in (signed["certificates"] or ()) if choice.name == "certificate"
    ]
    if expected_signer is not None:
        # Peers that do not embed their certificate are still verified against the registry's.
        candidates.append(to_asn1_certificate(expected_signer))
    for candidate in candidates:
        if identifies(sid, candidate):
            try:
                signer = x509.load_der_x509_certificate(candidate.dump())
            except (ValueError, x509.InvalidVersion) as exc:
                raise NotCmsError("embedded signer certificate is not readable") from exc
            break
    else:
        if expected_signer is not None:
            raise UnexpectedSignerError(
                f"message is signed by {describe_identifier(sid)}, not by the expected"
                f" {describe_certificate(expected_signer)}"
            )
        raise UnexpectedSignerError(
            f"signer certificate ({describe_identifier(sid)}) is not in the message"
        )
    if expected_signer is not None and signer != expected_signer:
        raise UnexpectedSignerError(
            f"message is signed by {describe_certificate(signer)}, not by the expected"
            f" {describe_certificate(expected_signer)}"
        )
    return signer


def _signed_bytes(
    signer_info: asn1_cms.SignerInfo,
    encapsulated: asn1_cms.EncapsulatedContentInfo,
    content: bytes,
    digest: hashes.HashAlgorithm,
) -> bytes:
    """What the signature covers: the signed attributes if any (after checking their digest)."""
    attributes = signer_info["signed_attrs"]
    if isinstance(attributes, asn1_core.Void) or len(attributes) == 0:
        return content
    digests = _attribute_values(attributes, "message_digest")
    if len(digests) != 1:
        raise BadSignatureError("signed attributes need exactly one message digest")
    hasher = hashes.Hash(digest)
    hasher.update(content)
    if not hmac.compare_digest(hasher.finalize(), digests[0].native):
        raise BadSignatureError("signed content does not match its message digest")
    content_types = _attribute_values(attributes, "content_type")
    if [value.native for value in content_types] != [encapsulated["content_type"].native]:
        raise BadSignatureError("signed content-type attribute does not match the content")
    # The signature is over the attributes' bytes as received, re-tagged as a SET OF.
    encoded: bytes = attributes.dump()
    return _SET_OF_TAG + encoded[1:]


def _attribute_values(attributes: asn1_cms.CMSAttributes, name: str) -> list[asn1_core.Asn1Value]:
    values: list[asn1_core.Asn1Value] = []
    for attribute in attributes:
        if attribute["type"].native == name:
            values.extend(attribute["values"])
    return values


def _verify_signature(
    signer_info: asn1_cms.SignerInfo,
    signer: x509.Certificate,
    signed_bytes: bytes,
    digest: hashes.HashAlgorithm,
) -> None:
    public_key = signer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithmError("only RSA signer keys are supported")
    scheme, signature_hash = _signature_scheme(signer_info["signature_algorithm"], digest)
    try:
        public_key.verify(signer_info["signature"].native, signed_bytes, scheme, signature_hash)
    except InvalidSignature as exc:
        raise BadSignatureError("signature does not verify against the signer certificate") from exc


def _signature_scheme(
    algorithm: asn1_algos.SignedDigestAlgorithm, digest: hashes.HashAlgorithm
) -> tuple[padding.AsymmetricPadding, hashes.HashAlgorithm]:
    kind = algorithm.signature_algo
    if kind == "rsassa_pkcs1v15":
        name = algorithm["algorithm"].native
        if name != "rsassa_pkcs1v15" and algorithm.hash_algo != digest.name:
            raise UnsupportedAlgorithmError(
                f"signature algorithm {name} disagrees with digest {digest.name}"
            )
        return padding.PKCS1v15(), digest
    if kind == "rsassa_pss":
        params = algorithm["parameters"]
        mask = params["mask_gen_algorithm"]
        if mask["algorithm"].native != "mgf1":
            raise UnsupportedAlgorithmError(f"PSS mask generation {mask['algorithm'].native}")
        pss = padding.PSS(
            mgf=padding.MGF1(hash_algorithm(mask["parameters"]["algorithm"].native, "PSS mask")),
            salt_length=params["salt_length"].native,
        )
        return pss, hash_algorithm(params["hash_algorithm"]["algorithm"].native, "PSS")
    raise UnsupportedAlgorithmError(f"signature algorithm {kind} is not supported")
