"""CertificateTrust: a registry certificate is used only when it chains to the trust bundle,
belongs to the expected organisation and is not revoked (its issuer's CRL, over HTTP)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kpr_gateway.observability import HealthServer
from kpr_gateway.registry import (
    FHI_ORG_NUMBER,
    CertificateRevokedError,
    CertificateTrust,
    CrlChecker,
    RegistryUnavailableError,
    RevocationMode,
    RevocationUnknownError,
    TrustBundle,
    TrustBundleError,
    UntrustedCertificateError,
    load_trust_bundle,
    organisation_numbers,
)
from kpr_gateway.security.devpki import DevPki
from tests.unit.registry.forging import (
    crl_of,
    issue,
    name,
    organization_identifier,
    self_signed_ca,
    serial_number,
    two_level_chain,
)
from tests.unit.registry.support import BASE, CRL_PATH, CRL_URL

HARD = RevocationMode.HARD_FAIL
SOFT = RevocationMode.SOFT_FAIL
OTHER_ORG_NUMBER = "974760673"
ROOT_CRL_PATH = "/crl/root.crl"
ISSUING_CRL_PATH = "/crl/issuing.crl"


class CrlHost:
    """CRLs by path, served over HTTP through httpx's ASGI transport; requests counted."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            self.hits[request.url.path] += 1
            content = self.files.get(request.url.path)
            if content is None:
                return Response(b"not here", status_code=404)
            return Response(content, media_type="application/pkix-crl")

        return Starlette(routes=[Route("/crl/{name}", endpoint, methods=["GET"])])


@pytest.fixture
def host(pki: DevPki) -> CrlHost:
    served = CrlHost()
    served.files[CRL_PATH] = pki.crl()
    return served


@pytest.fixture
async def http(host: CrlHost) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app())) as client:
        yield client


def trust(
    http: httpx.AsyncClient, *issuers: x509.Certificate, mode: RevocationMode = HARD
) -> CertificateTrust:
    return CertificateTrust(issuers, CrlChecker(http, mode=mode, timeout=2.0))


@pytest.fixture
def stranger() -> DevPki:
    """Another development PKI: its CA has the same name as ours, and another key."""
    return DevPki.create([("fhi", FHI_ORG_NUMBER)], crl_url=CRL_URL)


# -- chain -----------------------------------------------------------------------------


async def test_a_certificate_of_the_bundles_issuer_and_organisation_is_trusted(
    pki: DevPki, http: httpx.AsyncClient, host: CrlHost
) -> None:
    checked = trust(http, pki.ca.certificate)
    await checked.verify(pki.party("fhi").signing.certificate, organisation_number=FHI_ORG_NUMBER)
    await checked.verify(
        pki.party("fhi").encryption.certificate, organisation_number=FHI_ORG_NUMBER
    )
    assert host.hits[CRL_PATH] == 1  # one CRL for both, kept until its nextUpdate


async def test_a_certificate_of_another_issuer_is_not_trusted(
    pki: DevPki, stranger: DevPki, http: httpx.AsyncClient
) -> None:
    with pytest.raises(UntrustedCertificateError, match="does not chain to an issuer"):
        await trust(http, pki.ca.certificate).verify(
            stranger.party("fhi").signing.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_a_refusal_does_not_quote_the_certificates_subject(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    # A swapped certificate may be anyone's; its holder's name stays out of logs and errors.
    personal = issue(self_signed_ca("Stranger CA"), name("Kari Nordmann"), crl_url=CRL_URL)
    with pytest.raises(UntrustedCertificateError) as refused:
        await trust(http, pki.ca.certificate).verify(
            personal.certificate, organisation_number=FHI_ORG_NUMBER
        )
    assert "Kari" not in str(refused.value)
    assert "Stranger" not in str(refused.value)


async def test_a_ca_certificate_is_no_enterprise_certificate(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    ca_shaped = issue(pki.ca, name("FHI", serial_number(FHI_ORG_NUMBER)), ca=True)
    with pytest.raises(UntrustedCertificateError, match="a CA certificate, not an enterprise"):
        await trust(http, pki.ca.certificate).verify(
            ca_shaped.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_a_certificate_issued_by_an_enterprise_certificate_is_not_trusted(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    underling = issue(pki.party("fhi").signing, name("FHI", serial_number(FHI_ORG_NUMBER)))
    with pytest.raises(UntrustedCertificateError, match="does not chain"):
        await trust(http, pki.ca.certificate).verify(
            underling.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_a_certificate_is_judged_at_the_moment_given(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    with pytest.raises(UntrustedCertificateError, match="not valid at validation time"):
        await trust(http, pki.ca.certificate).verify(
            pki.party("fhi").signing.certificate,
            organisation_number=FHI_ORG_NUMBER,
            now=datetime.now(UTC) + timedelta(days=400),
        )


async def test_a_bundle_with_roots_checks_the_issuing_cas_revocation_too(
    http: httpx.AsyncClient, host: CrlHost
) -> None:
    chain = two_level_chain(f"{BASE}{ROOT_CRL_PATH}", f"{BASE}{ISSUING_CRL_PATH}")
    host.files[ROOT_CRL_PATH] = crl_of(chain.root)
    host.files[ISSUING_CRL_PATH] = crl_of(chain.issuing)
    bundle = (chain.issuing.certificate, chain.root.certificate)

    await trust(http, *bundle).verify(chain.leaf.certificate, organisation_number=FHI_ORG_NUMBER)
    assert (host.hits[ROOT_CRL_PATH], host.hits[ISSUING_CRL_PATH]) == (1, 1)

    host.files[ROOT_CRL_PATH] = crl_of(chain.root, (chain.issuing.certificate,))
    with pytest.raises(CertificateRevokedError, match="it is revoked"):
        await trust(http, *bundle).verify(  # a new checker: nothing cached
            chain.leaf.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_an_issuing_ca_alone_in_the_bundle_is_the_anchor(
    http: httpx.AsyncClient, host: CrlHost
) -> None:
    chain = two_level_chain(f"{BASE}{ROOT_CRL_PATH}", f"{BASE}{ISSUING_CRL_PATH}")
    host.files[ISSUING_CRL_PATH] = crl_of(chain.issuing)

    await trust(http, chain.issuing.certificate).verify(
        chain.leaf.certificate, organisation_number=FHI_ORG_NUMBER
    )
    assert (host.hits[ROOT_CRL_PATH], host.hits[ISSUING_CRL_PATH]) == (0, 1)
    with pytest.raises(UntrustedCertificateError, match="does not chain"):
        # The root alone cannot: the registry hands out the certificate, not its issuer.
        await trust(http, chain.root.certificate).verify(
            chain.leaf.certificate, organisation_number=FHI_ORG_NUMBER
        )


# -- organisation number ---------------------------------------------------------------


async def test_another_organisations_certificate_is_not_trusted(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    # The other party's certificate chains to the same CA: only the organisation number tells.
    with pytest.raises(
        UntrustedCertificateError,
        match=f"^it belongs to organisation number {OTHER_ORG_NUMBER}, not to 983744516$",
    ):
        await trust(http, pki.ca.certificate).verify(
            pki.party("other").signing.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_a_certificate_without_an_organisation_number_is_not_trusted(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    anonymous = issue(pki.ca, name("FHI"), crl_url=CRL_URL)
    with pytest.raises(UntrustedCertificateError, match="names no organisation number"):
        await trust(http, pki.ca.certificate).verify(
            anonymous.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_a_seid_2_organisation_identifier_is_read(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    seid2 = issue(pki.ca, name("FHI", organization_identifier("NTRNO-983744516")), crl_url=CRL_URL)
    assert organisation_numbers(seid2.certificate) == {FHI_ORG_NUMBER}
    await trust(http, pki.ca.certificate).verify(
        seid2.certificate, organisation_number=FHI_ORG_NUMBER
    )


async def test_two_organisation_numbers_in_one_subject_are_refused(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    both = issue(
        pki.ca,
        name(
            "FHI",
            serial_number(FHI_ORG_NUMBER),
            organization_identifier(f"NTRNO-{OTHER_ORG_NUMBER}"),
        ),
        crl_url=CRL_URL,
    )
    with pytest.raises(UntrustedCertificateError, match="974760673, 983744516, not to 983744516"):
        await trust(http, pki.ca.certificate).verify(
            both.certificate, organisation_number=FHI_ORG_NUMBER
        )


def test_only_organisation_numbers_count() -> None:
    ca = self_signed_ca("Test CA")
    odd = issue(
        ca,
        name("X", serial_number("9578-4505-00001pdEkL"), organization_identifier("VATNO-1234")),
    )
    assert organisation_numbers(odd.certificate) == frozenset()


# -- revocation ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [HARD, SOFT])
async def test_a_revoked_certificate_is_refused_in_either_mode(
    pki: DevPki, http: httpx.AsyncClient, host: CrlHost, mode: RevocationMode
) -> None:
    revoked = pki.party("fhi").signing.certificate
    host.files[CRL_PATH] = pki.crl([revoked])
    with pytest.raises(CertificateRevokedError, match=r"it is revoked .*reason keyCompromise"):
        await trust(http, pki.ca.certificate, mode=mode).verify(
            revoked, organisation_number=FHI_ORG_NUMBER
        )


async def test_an_unreachable_crl_refuses_when_hard_failing(
    pki: DevPki, http: httpx.AsyncClient, host: CrlHost
) -> None:
    del host.files[CRL_PATH]
    with pytest.raises(RevocationUnknownError, match=r"cannot be checked: .*HTTP 404") as refused:
        await trust(http, pki.ca.certificate).verify(
            pki.party("fhi").signing.certificate, organisation_number=FHI_ORG_NUMBER
        )
    # Transient: a message waits for it, as for a registry outage, rather than being parked.
    assert isinstance(refused.value, RegistryUnavailableError)


async def test_an_unreachable_crl_is_accepted_with_a_warning_when_soft_failing(
    pki: DevPki, http: httpx.AsyncClient, host: CrlHost, caplog: pytest.LogCaptureFixture
) -> None:
    del host.files[CRL_PATH]
    with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.revocation"):
        await trust(http, pki.ca.certificate, mode=SOFT).verify(
            pki.party("fhi").signing.certificate, organisation_number=FHI_ORG_NUMBER
        )
    assert "cannot be checked" in caplog.text
    assert "soft-fails" in caplog.text


@pytest.mark.parametrize(
    ("crl", "reason"),
    [
        ("stranger", "the CRL's signature is not the issuer's"),
        ("outdated", "the CRL is outdated"),
        ("future", "the CRL is issued in the future"),
        ("garbage", "not a readable CRL"),
        ("other issuer", "the CRL is not the issuer's"),
    ],
)
async def test_an_unusable_crl_counts_as_none(
    pki: DevPki, stranger: DevPki, http: httpx.AsyncClient, host: CrlHost, *, crl: str, reason: str
) -> None:
    now = datetime.now(UTC)
    host.files[CRL_PATH] = {
        "stranger": stranger.crl(),  # same issuer name, signed by another key
        "outdated": crl_of(pki.ca, next_update=timedelta(minutes=-10)),
        "future": crl_of(pki.ca, last_update=now + timedelta(days=1), next_update=timedelta(2)),
        "garbage": b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        "other issuer": crl_of(self_signed_ca("Other CA")),
    }[crl]
    with pytest.raises(RevocationUnknownError, match=reason):
        await trust(http, pki.ca.certificate).verify(
            pki.party("fhi").signing.certificate, organisation_number=FHI_ORG_NUMBER
        )


@pytest.mark.parametrize(("mode", "refused"), [(HARD, True), (SOFT, False)])
async def test_a_certificate_that_names_no_crl(
    pki: DevPki, http: httpx.AsyncClient, mode: RevocationMode, refused: bool
) -> None:
    silent = issue(pki.ca, name("FHI", serial_number(FHI_ORG_NUMBER)))  # no distribution point
    checked = trust(http, pki.ca.certificate, mode=mode)
    if refused:
        with pytest.raises(RevocationUnknownError, match="names no HTTP CRL distribution point"):
            await checked.verify(silent.certificate, organisation_number=FHI_ORG_NUMBER)
    else:
        await checked.verify(silent.certificate, organisation_number=FHI_ORG_NUMBER)


async def test_a_crl_is_fetched_again_after_its_next_update(
    pki: DevPki, http: httpx.AsyncClient, host: CrlHost
) -> None:
    checked = trust(http, pki.ca.certificate)
    signing = pki.party("fhi").signing.certificate
    now = datetime.now(UTC)
    await checked.verify(signing, organisation_number=FHI_ORG_NUMBER, now=now)
    await checked.verify(signing, organisation_number=FHI_ORG_NUMBER, now=now + timedelta(hours=1))
    assert host.hits[CRL_PATH] == 1

    later = now + timedelta(days=2)  # past the first CRL's nextUpdate (a day)
    host.files[CRL_PATH] = pki.crl([signing], now=later, number=2)
    with pytest.raises(CertificateRevokedError):
        await checked.verify(signing, organisation_number=FHI_ORG_NUMBER, now=later)
    assert host.hits[CRL_PATH] == 2


async def test_a_failed_fetch_is_not_repeated_for_a_while(
    pki: DevPki, http: httpx.AsyncClient, host: CrlHost
) -> None:
    del host.files[CRL_PATH]
    checked = trust(http, pki.ca.certificate)
    signing = pki.party("fhi").signing.certificate
    now = datetime.now(UTC)
    for _ in range(3):
        with pytest.raises(RevocationUnknownError):
            await checked.verify(signing, organisation_number=FHI_ORG_NUMBER, now=now)
    assert host.hits[CRL_PATH] == 1

    host.files[CRL_PATH] = pki.crl()
    later = now + timedelta(minutes=2)
    await checked.verify(signing, organisation_number=FHI_ORG_NUMBER, now=later)
    assert host.hits[CRL_PATH] == 2


async def test_a_crl_larger_than_the_limit_is_not_read(
    pki: DevPki, http: httpx.AsyncClient
) -> None:
    checked = CertificateTrust([pki.ca.certificate], CrlChecker(http, mode=HARD, max_bytes=100))
    with pytest.raises(RevocationUnknownError, match="larger than 100 bytes"):
        await checked.verify(
            pki.party("fhi").signing.certificate, organisation_number=FHI_ORG_NUMBER
        )


async def test_a_crl_from_a_real_http_server_and_one_that_never_answers(pki: DevPki) -> None:
    release = asyncio.Event()
    crl = pki.crl()

    async def published(request: Request) -> Response:
        return Response(crl, media_type="application/pkix-crl")

    async def silent(request: Request) -> Response:
        await release.wait()
        return Response(b"", status_code=204)

    server = HealthServer(
        Starlette(
            routes=[
                Route("/ca.crl", published, methods=["GET"]),
                Route("/silent.crl", silent, methods=["GET"]),
            ]
        ),
        "127.0.0.1",
        0,
    )
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    answering = issue(pki.ca, name("FHI", serial_number(FHI_ORG_NUMBER)), crl_url=f"{base}/ca.crl")
    hanging = issue(
        pki.ca, name("FHI", serial_number(FHI_ORG_NUMBER)), crl_url=f"{base}/silent.crl"
    )
    try:
        async with httpx.AsyncClient() as http:
            checked = CertificateTrust(
                [pki.ca.certificate], CrlChecker(http, mode=HARD, timeout=0.3)
            )
            await checked.verify(answering.certificate, organisation_number=FHI_ORG_NUMBER)
            with pytest.raises(RevocationUnknownError, match=r"no answer within 0\.3 s"):
                await checked.verify(hanging.certificate, organisation_number=FHI_ORG_NUMBER)
    finally:
        release.set()
        await server.stop()


# -- the bundle ------------------------------------------------------------------------


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


def test_a_bundle_holds_ca_certificates_only(
    pki: DevPki, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem(pki.ca.certificate, pki.party("fhi").signing.certificate))
    with pytest.raises(TrustBundleError, match="certificate 2 is not a CA certificate"):
        load_trust_bundle(bundle)
    bundle.write_bytes(b"nothing here\n")
    with pytest.raises(TrustBundleError, match="holds no readable PEM certificates"):
        load_trust_bundle(bundle)
    with pytest.raises(TrustBundleError, match="cannot be read"):
        load_trust_bundle(tmp_path / "missing.pem")
    with pytest.raises(TrustBundleError, match="at least one CA"):
        CertificateTrust([], CrlChecker(http, mode=HARD))


async def test_a_changed_bundle_is_read_again(
    pki: DevPki,
    stranger: DevPki,
    http: httpx.AsyncClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(pem(stranger.ca.certificate))
    checked = CertificateTrust(TrustBundle(path), CrlChecker(http, mode=HARD))
    fhi = pki.party("fhi").signing.certificate
    with pytest.raises(UntrustedCertificateError, match="does not chain"):
        await checked.verify(fhi, organisation_number=FHI_ORG_NUMBER)

    path.write_bytes(pem(stranger.ca.certificate, pki.ca.certificate))  # an issuer added
    await checked.verify(fhi, organisation_number=FHI_ORG_NUMBER)

    path.write_bytes(b"half-written\n")  # a broken update keeps what was read before
    with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.trust"):
        await checked.verify(fhi, organisation_number=FHI_ORG_NUMBER)
    assert "the certificates read before are used" in caplog.text
