"""``openssl cms`` both ways: it opens what we seal, we open what it seals.

The profile's message is an EnvelopedData whose id-data content is the DER of a SignedData
ContentInfo, so openssl signs to a DER file first and then encrypts that file with -binary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from asn1crypto import cms as asn1_cms
from typer.testing import CliRunner

from kpr_gateway.cli import cms as cms_cli
from kpr_gateway.security.certs import load_certificate
from kpr_gateway.security.cms import OpenedMessage, open_sealed, seal
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.security.errors import (
    BadSignatureError,
    UnexpectedSignerError,
    WrongRecipientError,
)

from ._support import Openssl, PkiFiles

XML = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">\n'
    + b"  <Tekst>bl\xc3\xa5b\xc3\xa6r</Tekst>\n" * 2000
    + b"</MsgHead>\n"
)
CONTENTS = {
    "lf-only": b"line one\nline two\n",
    "single-lf": b"\n",
    "crlf-and-lf": b"dos\r\nunix\nmac\r",
    "not-utf8": b"\xff\xfe\x00latin-1 \xe6\xf8\xe5\n",
    "xml-100k": XML,
}
PAYLOAD = b"<KPR>\n<Tjeneste>29</Tjeneste>\n</KPR>\n"


def _openssl_open(openssl: Openssl, files: PkiFiles, sealed: Path, work: Path) -> bytes:
    """Decrypt as fhi, then verify against the dev CA; returns the content openssl sees."""
    signed = work / "signed.der"
    openssl.run(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", sealed,
        "-recip", files.cert("fhi", "enc"), "-inkey", files.key("fhi", "enc"), "-out", signed,
    )  # fmt: skip
    info = asn1_cms.ContentInfo.load(signed.read_bytes(), strict=True)
    assert info["content_type"].native == "signed_data"
    signer = work / "signer.pem"
    content = work / "content.bin"
    openssl.run(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", signed,
        "-CAfile", files.ca, "-signer", signer, "-out", content,
    )  # fmt: skip
    assert load_certificate(signer) == files.pki.party("kommune").signing.certificate
    return content.read_bytes()


def _openssl_seal(
    openssl: Openssl,
    files: PkiFiles,
    work: Path,
    content: bytes,
    *,
    signer: str = "kommune",
    sign_options: tuple[str, ...] = ("-md", "sha256"),
    encrypt_options: tuple[str, ...] = ("-aes256",),
    recipient_options: tuple[str, ...] = (),
    tamper: bool = False,
) -> bytes:
    source, signed, sealed = work / "in.bin", work / "signed.der", work / "sealed.der"
    source.write_bytes(content)
    openssl.run(
        "cms", "-sign", "-binary", "-nodetach", "-in", source, "-outform", "DER", "-out", signed,
        "-signer", files.cert(signer, "sign"), "-inkey", files.key(signer, "sign"), *sign_options,
    )  # fmt: skip
    if tamper:
        original = signed.read_bytes()
        forged = original.replace(b"<Tjeneste>29<", b"<Tjeneste>13<")
        assert forged != original
        signed.write_bytes(forged)
    openssl.run(
        "cms", "-encrypt", "-binary", "-in", signed, "-outform", "DER", "-out", sealed,
        *encrypt_options, "-recip", files.cert("fhi", "enc"), *recipient_options,
    )  # fmt: skip
    return sealed.read_bytes()


def _open_as_fhi(files: PkiFiles, data: bytes) -> OpenedMessage:
    pki = files.pki
    return open_sealed(
        data, [pki.party("fhi").encryption], pki.party("kommune").signing.certificate
    )


# --- ours -> openssl ---------------------------------------------------------------------


@pytest.mark.parametrize("content", CONTENTS.values(), ids=CONTENTS.keys())
def test_openssl_opens_what_seal_makes(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path, content: bytes
) -> None:
    pki = pki_files.pki
    sealed = tmp_path / "sealed.der"
    sealed.write_bytes(
        seal(content, pki.party("kommune").signing, pki.party("fhi").encryption.certificate)
    )
    assert _openssl_open(openssl, pki_files, sealed, tmp_path) == content


def test_openssl_opens_what_kprgw_cms_seal_makes(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    app = typer.Typer()
    app.add_typer(cms_cli.app, name="cms")
    source, sealed = tmp_path / "in.xml", tmp_path / "sealed.der"
    source.write_bytes(CONTENTS["lf-only"])
    result = CliRunner().invoke(
        app,
        [
            "cms", "seal",
            "--sign-cert", str(pki_files.cert("kommune", "sign")),
            "--sign-key", str(pki_files.key("kommune", "sign")),
            "--recipient-cert", str(pki_files.cert("fhi", "enc")),
            "--in", str(source), "--out", str(sealed),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert _openssl_open(openssl, pki_files, sealed, tmp_path) == CONTENTS["lf-only"]


# --- openssl -> ours ---------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """How openssl signs and encrypts, and what that must show in the message."""

    sign: tuple[str, ...] = ()
    encrypt: tuple[str, ...] = ("-aes256",)
    recipient: tuple[str, ...] = ()
    cipher: str = "aes256_cbc"
    key_transport: str = "rsaes_pkcs1v15"
    digest: str = "sha256"
    signature: str = "rsassa_pkcs1v15"
    identified_by: str = "issuer_and_serial_number"


OAEP = ("-keyopt", "rsa_padding_mode:oaep")
OAEP_SHA256 = (*OAEP, "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256")
VARIANTS = {
    "profile-aes256": Variant(),
    "aes128": Variant(encrypt=("-aes128",), cipher="aes128_cbc"),
    "aes192": Variant(encrypt=("-aes192",), cipher="aes192_cbc"),
    "3des": Variant(encrypt=("-des3",), cipher="tripledes_3key"),
    "oaep-sha1": Variant(recipient=OAEP, key_transport="rsaes_oaep"),
    "oaep-sha256": Variant(recipient=OAEP_SHA256, key_transport="rsaes_oaep"),
    "sha1-digest": Variant(digest="sha1"),
    "sha384-digest": Variant(digest="sha384"),
    "sha512-digest": Variant(digest="sha512"),
    "rsassa-pss": Variant(sign=("-keyopt", "rsa_padding_mode:pss"), signature="rsassa_pss"),
    "no-signed-attributes": Variant(sign=("-noattr",)),
    "key-identifiers": Variant(
        sign=("-keyid",), encrypt=("-aes256", "-keyid"), identified_by="subject_key_identifier"
    ),
    "ber-streamed": Variant(sign=("-stream",), encrypt=("-aes256", "-stream")),
}


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_open_sealed_opens_what_openssl_makes(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path, variant: Variant
) -> None:
    sealed = _openssl_seal(
        openssl,
        pki_files,
        tmp_path,
        PAYLOAD,
        sign_options=("-md", variant.digest, *variant.sign),
        encrypt_options=variant.encrypt,
        recipient_options=variant.recipient,
    )
    # First make sure openssl produced the variant this case is about.
    enveloped = asn1_cms.ContentInfo.load(sealed)["content"]
    encrypted = enveloped["encrypted_content_info"]
    assert encrypted["content_type"].native == "data"
    assert encrypted["content_encryption_algorithm"]["algorithm"].native == variant.cipher
    (recipient,) = enveloped["recipient_infos"]
    assert recipient.chosen["key_encryption_algorithm"]["algorithm"].native == (
        variant.key_transport
    )
    assert recipient.chosen["rid"].name == variant.identified_by
    signed = asn1_cms.ContentInfo.load((tmp_path / "signed.der").read_bytes())["content"]
    (signer_info,) = signed["signer_infos"]
    assert signer_info["digest_algorithm"]["algorithm"].native == variant.digest
    assert signer_info["signature_algorithm"].signature_algo == variant.signature
    assert signer_info["sid"].name == variant.identified_by
    if "-stream" in variant.sign:
        assert sealed[1] == 0x80  # indefinite length: BER, not DER

    opened = _open_as_fhi(pki_files, sealed)
    assert opened.content == PAYLOAD
    assert opened.signer == pki_files.pki.party("kommune").signing.certificate


def test_signer_certificate_left_out_by_openssl_comes_from_the_registry(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    sealed = _openssl_seal(
        openssl, pki_files, tmp_path, PAYLOAD, sign_options=("-md", "sha256", "-nocerts")
    )
    assert _open_as_fhi(pki_files, sealed).content == PAYLOAD


@pytest.mark.parametrize("content", CONTENTS.values(), ids=CONTENTS.keys())
def test_content_survives_byte_for_byte(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path, content: bytes
) -> None:
    sealed = _openssl_seal(openssl, pki_files, tmp_path, content)
    assert _open_as_fhi(pki_files, sealed).content == content


# --- refusals ----------------------------------------------------------------------------


def test_tampered_openssl_message_is_refused(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    sealed = _openssl_seal(openssl, pki_files, tmp_path, PAYLOAD, tamper=True)
    with pytest.raises(BadSignatureError, match="message digest"):
        _open_as_fhi(pki_files, sealed)


def test_openssl_message_for_someone_else_is_refused(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    sealed = _openssl_seal(openssl, pki_files, tmp_path, PAYLOAD)
    pki = pki_files.pki
    with pytest.raises(WrongRecipientError):
        open_sealed(
            sealed, [pki.party("intruder").encryption], pki.party("kommune").signing.certificate
        )


def test_openssl_message_from_the_wrong_signer_is_refused(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    sealed = _openssl_seal(openssl, pki_files, tmp_path, PAYLOAD, signer="intruder")
    with pytest.raises(UnexpectedSignerError):
        _open_as_fhi(pki_files, sealed)


def test_openssl_refuses_our_seal_for_another_key(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    """The negative control of the round trip: openssl does fail when it should."""
    pki = pki_files.pki
    sealed = tmp_path / "sealed.der"
    sealed.write_bytes(
        seal(PAYLOAD, pki.party("kommune").signing, pki.party("intruder").encryption.certificate)
    )
    stderr = openssl.refuses(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", sealed,
        "-recip", pki_files.cert("fhi", "enc"), "-inkey", pki_files.key("fhi", "enc"),
    )  # fmt: skip
    assert "decrypt" in stderr.lower()


def test_openssl_refuses_our_seal_under_a_foreign_ca(
    openssl: Openssl, pki_files: PkiFiles, tmp_path: Path
) -> None:
    """Verification against the CA is real: another dev CA's signer is not trusted."""
    stranger = DevPki.create([("stranger", "123456785")]).party("stranger")
    pki = pki_files.pki
    sealed = tmp_path / "sealed.der"
    sealed.write_bytes(seal(PAYLOAD, stranger.signing, pki.party("fhi").encryption.certificate))
    signed = tmp_path / "signed.der"
    openssl.run(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", sealed,
        "-recip", pki_files.cert("fhi", "enc"), "-inkey", pki_files.key("fhi", "enc"),
        "-out", signed,
    )  # fmt: skip
    stderr = openssl.refuses(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", signed, "-CAfile", pki_files.ca,
    )  # fmt: skip
    assert "certificate verify error" in stderr.lower()
