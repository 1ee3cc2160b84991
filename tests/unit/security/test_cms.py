"""Seal/open per the NHN CMS profile: round trips, rotation and every refusal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kpr_gateway.security.certs import Credential
from kpr_gateway.security.cms import CONTENT_TYPE, OpenedMessage, open_sealed, seal
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.security.errors import (
    BadSignatureError,
    CertificateExpiredError,
    DecryptionError,
    NotCmsError,
    SecurityError,
    UnexpectedSignerError,
    WrongKeyUsageError,
    WrongRecipientError,
)

# Looks like a KPR payload with a (synthetic) national id that must never reach an error text.
CONTENT = (
    b'<?xml version="1.0"?>\n<KPR><Fnr>01017012345</Fnr>\n'
    b"<Tekst>bl\xc3\xa5b\xc3\xa6r</Tekst></KPR>\n"
)
SECRET = "01017012345"
BINARY = [pkcs7.PKCS7Options.Binary]


def _sign(
    content: bytes, signer: Credential, options: Sequence[pkcs7.PKCS7Options] = BINARY
) -> bytes:
    """A DER SignedData ContentInfo made without seal()'s certificate checks."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(signer.certificate, signer.private_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, options)
    )


def _envelope(inner: bytes, *recipients: Credential) -> bytes:
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(inner)
    for recipient in recipients:
        builder = builder.add_recipient(recipient.certificate)
    return builder.set_content_encryption_algorithm(algorithms.AES256).encrypt(
        serialization.Encoding.DER, BINARY
    )


def _open(dev_pki: DevPki, data: bytes) -> OpenedMessage:
    return open_sealed(
        data, [dev_pki.party("fhi").encryption], dev_pki.party("kommune").signing.certificate
    )


@pytest.fixture(scope="module")
def sealed(dev_pki: DevPki) -> bytes:
    return seal(
        CONTENT, dev_pki.party("kommune").signing, dev_pki.party("fhi").encryption.certificate
    )


def test_content_type_is_the_nhn_one() -> None:
    assert CONTENT_TYPE == "application/pkcs7-mime; smime-type=signed-and-enveloped-data"


@settings(max_examples=25, deadline=None)
@given(content=st.binary(max_size=3000))
@example(content=b"")
@example(content=b"\n")
@example(content=b"line one\nline two\n")
@example(content=b"crlf\r\nlf\ncr\r")
@example(content=b"\xff\xfe\x00\x80 not utf-8")
def test_seal_open_round_trip(dev_pki: DevPki, content: bytes) -> None:
    kommune, fhi = dev_pki.party("kommune"), dev_pki.party("fhi")
    opened = open_sealed(
        seal(content, kommune.signing, fhi.encryption.certificate),
        [fhi.encryption],
        kommune.signing.certificate,
    )
    assert opened.content == content
    assert opened.signer == kommune.signing.certificate


def test_sealed_structure_follows_the_profile(dev_pki: DevPki, sealed: bytes) -> None:
    fhi, kommune = dev_pki.party("fhi"), dev_pki.party("kommune")
    info = asn1_cms.ContentInfo.load(sealed, strict=True)
    assert info["content_type"].native == "enveloped_data"
    enveloped = info["content"]
    (recipient,) = enveloped["recipient_infos"]
    assert recipient.name == "ktri"
    assert recipient.chosen["key_encryption_algorithm"]["algorithm"].native == "rsaes_pkcs1v15"
    assert recipient.chosen["rid"].name == "issuer_and_serial_number"
    assert recipient.chosen["rid"].chosen["serial_number"].native == (
        fhi.encryption.certificate.serial_number
    )
    encrypted = enveloped["encrypted_content_info"]
    assert encrypted["content_type"].native == "data"
    assert encrypted["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"

    # The id-data content is the DER of a SignedData ContentInfo.
    inner_der = _inner_signed_data(dev_pki, sealed)
    signed_info = asn1_cms.ContentInfo.load(inner_der, strict=True)
    assert signed_info["content_type"].native == "signed_data"
    assert signed_info.dump(force=True) == inner_der  # already DER
    signed = signed_info["content"]
    assert signed["encap_content_info"]["content_type"].native == "data"
    assert bytes(signed["encap_content_info"]["content"]) == CONTENT
    (signer_info,) = signed["signer_infos"]
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    assert signer_info["signature_algorithm"].signature_algo == "rsassa_pkcs1v15"
    assert signer_info["sid"].name == "issuer_and_serial_number"
    assert signer_info["sid"].chosen["serial_number"].native == (
        kommune.signing.certificate.serial_number
    )
    embedded = [choice.chosen.dump() for choice in signed["certificates"]]
    assert embedded == [kommune.signing.certificate.public_bytes(serialization.Encoding.DER)]


def _inner_signed_data(dev_pki: DevPki, sealed: bytes) -> bytes:
    """Decrypt with cryptography's own pkcs7 support, independent of our open_sealed."""
    fhi = dev_pki.party("fhi").encryption
    return pkcs7.pkcs7_decrypt_der(sealed, fhi.certificate, fhi.private_key, [])


def test_previous_key_opens_messages_sent_before_rotation(dev_pki: DevPki, sealed: bytes) -> None:
    current, previous = dev_pki.party("fhi-next").encryption, dev_pki.party("fhi").encryption
    opened = open_sealed(sealed, [current, previous], dev_pki.party("kommune").signing.certificate)
    assert opened.content == CONTENT


def test_any_listed_recipient_can_open(dev_pki: DevPki) -> None:
    kommune, fhi = dev_pki.party("kommune"), dev_pki.party("fhi")
    data = _envelope(_sign(CONTENT, kommune.signing), kommune.encryption, fhi.encryption)
    for own in (kommune.encryption, fhi.encryption):
        assert open_sealed(data, [own], kommune.signing.certificate).content == CONTENT


def test_wrong_key_is_refused(dev_pki: DevPki, sealed: bytes) -> None:
    with pytest.raises(WrongRecipientError, match="none of our 2 key"):
        open_sealed(
            sealed,
            [dev_pki.party("fhi-next").encryption, dev_pki.party("intruder").encryption],
            dev_pki.party("kommune").signing.certificate,
        )
    with pytest.raises(WrongRecipientError):
        open_sealed(sealed, [], None)


def test_tampered_ciphertext_is_refused(dev_pki: DevPki, sealed: bytes) -> None:
    # Changing the second-to-last cipher block garbles the end of the SignedData (its
    # signature) and flips a byte of the last block (signature or padding).
    tampered = bytearray(sealed)
    tampered[-20] ^= 0x01
    with pytest.raises((BadSignatureError, DecryptionError)) as caught:
        _open(dev_pki, bytes(tampered))
    assert SECRET not in str(caught.value)


def test_tampered_content_is_refused(dev_pki: DevPki) -> None:
    kommune = dev_pki.party("kommune")
    signed = _sign(CONTENT, kommune.signing)
    forged = signed.replace(b"01017012345", b"01017012346")
    assert forged != signed
    with pytest.raises(BadSignatureError, match="message digest") as caught:
        _open(dev_pki, _envelope(forged, dev_pki.party("fhi").encryption))
    assert SECRET not in str(caught.value)


def test_tampered_signature_is_refused(dev_pki: DevPki) -> None:
    signed = _sign(CONTENT, dev_pki.party("kommune").signing)
    # No unsigned attributes: the last byte belongs to the signature value.
    forged = signed[:-1] + bytes([signed[-1] ^ 0x01])
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        _open(dev_pki, _envelope(forged, dev_pki.party("fhi").encryption))


def test_signature_without_signed_attributes(dev_pki: DevPki) -> None:
    options = [*BINARY, pkcs7.PKCS7Options.NoAttributes]
    signed = _sign(CONTENT, dev_pki.party("kommune").signing, options)
    fhi = dev_pki.party("fhi").encryption
    assert _open(dev_pki, _envelope(signed, fhi)).content == CONTENT
    forged = signed.replace(b"01017012345", b"01017012346")
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        _open(dev_pki, _envelope(forged, fhi))


def test_signer_certificate_may_come_from_the_registry(dev_pki: DevPki) -> None:
    options = [*BINARY, pkcs7.PKCS7Options.NoCerts]
    data = _envelope(
        _sign(CONTENT, dev_pki.party("kommune").signing, options), dev_pki.party("fhi").encryption
    )
    assert _open(dev_pki, data).content == CONTENT
    with pytest.raises(UnexpectedSignerError, match="not in the message"):
        open_sealed(data, [dev_pki.party("fhi").encryption], None)


def test_wrong_signer_is_refused(dev_pki: DevPki) -> None:
    intruder, fhi = dev_pki.party("intruder"), dev_pki.party("fhi")
    data = seal(CONTENT, intruder.signing, fhi.encryption.certificate)
    with pytest.raises(UnexpectedSignerError, match="not by the expected"):
        _open(dev_pki, data)
    # Without an expectation the embedded signer is reported, for the caller to judge.
    assert open_sealed(data, [fhi.encryption], None).signer == intruder.signing.certificate


def test_expired_signer_is_refused(dev_pki: DevPki, sealed: bytes) -> None:
    kommune, fhi = dev_pki.party("kommune"), dev_pki.party("fhi")
    later = kommune.signing.certificate.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(CertificateExpiredError):
        open_sealed(sealed, [fhi.encryption], kommune.signing.certificate, now=later)


def test_signer_certificate_must_allow_signing(dev_pki: DevPki) -> None:
    kommune, fhi = dev_pki.party("kommune"), dev_pki.party("fhi")
    data = _envelope(_sign(CONTENT, kommune.encryption), fhi.encryption)
    with pytest.raises(WrongKeyUsageError, match="nonRepudiation"):
        open_sealed(data, [fhi.encryption], kommune.encryption.certificate)


def test_seal_refuses_unfit_certificates(dev_pki: DevPki) -> None:
    kommune, fhi = dev_pki.party("kommune"), dev_pki.party("fhi")
    with pytest.raises(WrongKeyUsageError):
        seal(CONTENT, kommune.encryption, fhi.encryption.certificate)
    with pytest.raises(WrongKeyUsageError):
        seal(CONTENT, kommune.signing, fhi.signing.certificate)
    later = fhi.encryption.certificate.not_valid_after_utc + timedelta(seconds=1)
    with pytest.raises(CertificateExpiredError):
        seal(CONTENT, kommune.signing, fhi.encryption.certificate, now=later)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"hello", b"\x30\x80\x00\x00", b"-----BEGIN PKCS7-----\n", bytes(range(256))],
)
def test_not_cms_is_refused(dev_pki: DevPki, garbage: bytes) -> None:
    with pytest.raises(NotCmsError):
        _open(dev_pki, garbage)


def test_signed_data_without_envelope_is_not_accepted(dev_pki: DevPki) -> None:
    with pytest.raises(NotCmsError, match="expected CMS EnvelopedData, got signed_data"):
        _open(dev_pki, _sign(CONTENT, dev_pki.party("kommune").signing))


def test_envelope_around_something_unsigned_is_refused(dev_pki: DevPki) -> None:
    data = _envelope(CONTENT, dev_pki.party("fhi").encryption)
    with pytest.raises(DecryptionError, match="not a CMS SignedData"):
        _open(dev_pki, data)


def test_opened_message_repr_hides_content(dev_pki: DevPki, sealed: bytes) -> None:
    assert SECRET not in repr(_open(dev_pki, sealed))


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_only_raise_security_errors(dev_pki: DevPki, data: bytes) -> None:
    with pytest.raises(SecurityError):
        _open(dev_pki, data)


@settings(max_examples=50, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_corrupted_messages_never_open_to_other_content(
    dev_pki: DevPki, sealed: bytes, position: int, flip: int
) -> None:
    corrupted = bytearray(sealed)
    corrupted[position % len(sealed)] ^= flip
    outcome: bytes | str
    try:
        outcome = _open(dev_pki, bytes(corrupted)).content
    except SecurityError as exc:
        outcome = str(exc)
    # Either refused (without leaking content) or, after a flip in a field nobody reads
    # (e.g. an algorithm's NULL parameter), the original content: never other content.
    if isinstance(outcome, str):
        assert SECRET not in outcome
    else:
        assert outcome == CONTENT
