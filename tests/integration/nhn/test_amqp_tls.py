"""amqps:// checks the broker's certificate and name (a TLS forwarder before the local broker)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kpr_gateway.nhn import NhnDelivery, NhnError
from tests.integration.nhn.broker import BROKER
from tests.integration.nhn.conftest import QueueNames, TransportFactory
from tests.integration.nhn.proxy import TcpProxy
from tests.integration.nhn.support import message, wait_until


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``localhost`` (DNS name only) signed by it."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("KPR Gateway test CA"))
        .issuer_name(_name("KPR Gateway test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def ca_file(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    ca, cert, key = write_tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return ca, context


@pytest.fixture
async def tls_proxy(ca_file: tuple[Path, ssl.SSLContext]) -> AsyncIterator[TcpProxy]:
    forwarder = TcpProxy(BROKER.host, BROKER.port, tls=ca_file[1])
    await forwarder.start()
    yield forwarder
    await forwarder.stop()


async def test_amqps_with_the_trusted_ca_sends_and_receives(
    transports: TransportFactory,
    queues: QueueNames,
    tls_proxy: TcpProxy,
    ca_file: tuple[Path, ssl.SSLContext],
) -> None:
    inbox = queues("async")
    got: list[bytes] = []

    async def handle(delivery: NhnDelivery) -> None:
        got.append(delivery.message.body)
        await delivery.accept()

    transport = transports(
        f"amqps://localhost:{tls_proxy.port}",
        allow_insecure=False,
        ca_file=str(ca_file[0]),
        declare_queues=False,
    )
    plain = transports(declare_queues=True)  # makes and binds the queue (0-9-1 has no TLS here)
    await plain.start()
    await plain.send(message(inbox, b"made"))
    transport.subscribe(inbox, handle)
    await transport.start()
    await transport.send(message(inbox, b"over tls"))

    await wait_until(lambda: sorted(got) == [b"made", b"over tls"])
    assert tls_proxy.accepted >= 1


async def test_amqps_refuses_an_untrusted_certificate(
    transports: TransportFactory, tls_proxy: TcpProxy
) -> None:
    transport = transports(
        f"amqps://localhost:{tls_proxy.port}",
        allow_insecure=False,
        declare_queues=False,
        connect_timeout=1.0,
    )
    with pytest.raises(NhnError, match="certificate verify failed"):
        await transport.start()


async def test_amqps_refuses_a_certificate_for_another_name(
    transports: TransportFactory, tls_proxy: TcpProxy, ca_file: tuple[Path, ssl.SSLContext]
) -> None:
    transport = transports(
        f"amqps://127.0.0.1:{tls_proxy.port}",  # the certificate names localhost only
        allow_insecure=False,
        ca_file=str(ca_file[0]),
        declare_queues=False,
        connect_timeout=1.0,
    )
    with pytest.raises(NhnError, match="certificate verify failed"):
        await transport.start()


def test_plain_amqp_is_refused_unless_allowed() -> None:
    from kpr_gateway.nhn.amqp import AmqpNhnTransport  # noqa: PLC0415

    with pytest.raises(NhnError, match="TLS"):
        AmqpNhnTransport(BROKER.url, username="u", password="p", exchange="x")
