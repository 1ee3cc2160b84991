"""Opening a CMS EnvelopedData: pick our recipient, unwrap the content key, decrypt.

cryptography's own pkcs7 decryption only knows AES-CBC with PKCS#1 v1.5; older peers also
send 3DES and RSA-OAEP, so the structure is read with asn1crypto and only the maths is
left to cryptography.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from kpr_gateway.security._asn1 import hash_algorithm, identifies, malformed_as, to_asn1_certificate
from kpr_gateway.security.certs import Credential
from kpr_gateway.security.errors import (
    DecryptionError,
    NotCmsError,
    UnsupportedAlgorithmError,
    WrongRecipientError,
)

# One text for every failure after the key transport step, so that error replies do not
# tell an attacker which step failed (a padding oracle on RSA PKCS#1 v1.5 or CBC).
_UNDECRYPTABLE = "message could not be decrypted (corrupt, tampered or for another key)"


@dataclass(frozen=True)
class _CbcCipher:
    make: Callable[[bytes], BlockCipherAlgorithm]
    key_bytes: int
    block_bits: int


_CIPHERS: dict[str, _CbcCipher] = {
    "aes128_cbc": _CbcCipher(algorithms.AES, 16, 128),
    "aes192_cbc": _CbcCipher(algorithms.AES, 24, 128),
    "aes256_cbc": _CbcCipher(algorithms.AES, 32, 128),
    "tripledes_3key": _CbcCipher(TripleDES, 24, 64),
}


@dataclass(frozen=True)
class DecryptedContent:
    content_type: str
    content: bytes


def load_enveloped_data(data: bytes) -> asn1_cms.EnvelopedData:
    try:
        info = asn1_cms.ContentInfo.load(data, strict=True)
        content_type = info["content_type"].native
    except (ValueError, TypeError) as exc:
        raise NotCmsError("input is not a DER/BER CMS ContentInfo") from exc
    if content_type != "enveloped_data":
        raise NotCmsError(f"expected CMS EnvelopedData, got {content_type}")
    with malformed_as("EnvelopedData"):
        enveloped = info["content"]
        if not isinstance(enveloped, asn1_cms.EnvelopedData):
            raise TypeError("content is not an EnvelopedData")
        return enveloped


def decrypt_enveloped(
    enveloped: asn1_cms.EnvelopedData, decryption_keys: Sequence[Credential]
) -> DecryptedContent:
    """Decrypt with the first credential (in the order given) the message is addressed to."""
    with malformed_as("EnvelopedData"):
        recipients = [info.chosen for info in enveloped["recipient_infos"] if info.name == "ktri"]
        count = len(enveloped["recipient_infos"])
        if not recipients:
            raise UnsupportedAlgorithmError(
                "only key transport (RSA) recipients are supported; the message has none"
            )
        for credential in decryption_keys:
            ours = to_asn1_certificate(credential.certificate)
            for recipient in recipients:
                if identifies(recipient["rid"], ours):
                    key = _unwrap_content_key(recipient, credential.private_key)
                    return _decrypt_content(enveloped["encrypted_content_info"], key)
    raise WrongRecipientError(
        f"message is encrypted for none of our {len(decryption_keys)} key(s)"
        f" ({count} recipient(s) in the message)"
    )


def _unwrap_content_key(
    recipient: asn1_cms.KeyTransRecipientInfo, private_key: rsa.RSAPrivateKey
) -> bytes:
    scheme = _key_transport_padding(recipient["key_encryption_algorithm"])
    try:
        return private_key.decrypt(recipient["encrypted_key"].native, scheme)
    except ValueError as exc:
        raise DecryptionError(_UNDECRYPTABLE) from exc


def _key_transport_padding(algorithm: asn1_cms.KeyEncryptionAlgorithm) -> padding.AsymmetricPadding:
    name = algorithm["algorithm"].native
    if name == "rsaes_pkcs1v15":
        return padding.PKCS1v15()
    if name != "rsaes_oaep":
        raise UnsupportedAlgorithmError(f"key transport {name} is not supported")
    params = algorithm["parameters"]
    if not isinstance(params, asn1_algos.RSAESOAEPParams):
        # Absent parameters mean the defaults: SHA-1, MGF1 with SHA-1, empty label.
        params = asn1_algos.RSAESOAEPParams({})
    mask = params["mask_gen_algorithm"]
    if mask["algorithm"].native != "mgf1":
        raise UnsupportedAlgorithmError(f"OAEP mask generation {mask['algorithm'].native}")
    source = params["p_source_algorithm"]
    label = source["parameters"].native if source["parameters"].native else None
    return padding.OAEP(
        mgf=padding.MGF1(hash_algorithm(mask["parameters"]["algorithm"].native, "OAEP mask")),
        algorithm=hash_algorithm(params["hash_algorithm"]["algorithm"].native, "OAEP"),
        label=label,
    )


def _decrypt_content(info: asn1_cms.EncryptedContentInfo, key: bytes) -> DecryptedContent:
    algorithm = info["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name not in _CIPHERS:
        raise UnsupportedAlgorithmError(f"content encryption {name} is not supported")
    cipher = _CIPHERS[name]
    if len(key) != cipher.key_bytes:
        raise DecryptionError(_UNDECRYPTABLE)
    iv = algorithm.encryption_iv
    block_bytes = cipher.block_bits // 8
    if not isinstance(iv, bytes) or len(iv) != block_bytes:
        raise NotCmsError(f"content encryption {name} has no valid IV")
    if info["encrypted_content"].native is None:
        raise NotCmsError("EnvelopedData carries no encrypted content (detached)")
    ciphertext = bytes(info["encrypted_content"])
    if not ciphertext or len(ciphertext) % block_bytes:
        raise DecryptionError(_UNDECRYPTABLE)
    decryptor = Cipher(cipher.make(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(cipher.block_bits).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionError(_UNDECRYPTABLE) from exc
    return DecryptedContent(info["content_type"].native, plain)
